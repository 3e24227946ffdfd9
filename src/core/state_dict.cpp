#include "tapegrad/core/state_dict.hpp"

namespace tg {

namespace {
template <class Map>
const typename Map::mapped_type& lookup(const Map& map, const std::string& name, const char* kind,
                                        const std::string& context) {
  auto it = map.find(name);
  if (it == map.end())
    throw Error((context.empty() ? std::string() : context + ": ") + "missing " + kind + " '" +
                name + "'");
  return it->second;
}

template <class Map>
void copy_with_prefix_removed(const Map& from, Map& to, const std::string& prefix) {
  for (auto it = from.lower_bound(prefix); it != from.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    to.emplace(it->first.substr(prefix.size()), it->second);
  }
}

template <class Map>
void copy_with_prefix_added(const Map& from, Map& to, const std::string& prefix) {
  for (const auto& [name, value] : from) to[prefix + name] = value;
}
}  // namespace

const Tensor& StateDict::tensor(const std::string& name, const std::string& context) const {
  return lookup(tensors, name, "tensor", context);
}
std::int64_t StateDict::integer(const std::string& name, const std::string& context) const {
  return lookup(integers, name, "integer", context);
}
double StateDict::real(const std::string& name, const std::string& context) const {
  return lookup(reals, name, "real", context);
}
const std::string& StateDict::text(const std::string& name, const std::string& context) const {
  return lookup(texts, name, "text", context);
}

StateDict StateDict::with_prefix_removed(const std::string& prefix) const {
  StateDict out;
  copy_with_prefix_removed(tensors, out.tensors, prefix);
  copy_with_prefix_removed(integers, out.integers, prefix);
  copy_with_prefix_removed(reals, out.reals, prefix);
  copy_with_prefix_removed(texts, out.texts, prefix);
  return out;
}

void StateDict::merge(const StateDict& other, const std::string& prefix) {
  copy_with_prefix_added(other.tensors, tensors, prefix);
  copy_with_prefix_added(other.integers, integers, prefix);
  copy_with_prefix_added(other.reals, reals, prefix);
  copy_with_prefix_added(other.texts, texts, prefix);
}

}  // namespace tg
