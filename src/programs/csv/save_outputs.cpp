#include "save_outputs.hpp"

#include "tapegrad/io/model_file.hpp"
#include "tapegrad/io/onnx.hpp"

#include <unistd.h>

#include <sys/stat.h>
#include <string>

namespace tapegrad_csv {

namespace {

// The file's folder must exist and be writable: found out now, not after training.
void check_writable(const std::string& path, const char* flag) {
  if (path.empty()) return;
  const std::size_t slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  struct stat st;
  if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw tg::Error(std::string(flag) + " " + path + ": folder " + folder + " does not exist");
  if (::access(folder.c_str(), W_OK) != 0)
    throw tg::Error(std::string(flag) + " " + path + ": folder " + folder + " is not writable");
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw tg::Error(std::string(flag) + " " + path + ": is a folder, not a file");
}

}  // namespace

void check_outputs_available(const Options& options) {
  check_writable(options.save_model, "--save-model");
  check_writable(options.export_onnx, "--export-onnx");
}

void save_outputs(tg::Module& model, const tg::Preprocessing& preprocessing,
                  const tg::Dataset& data, const Options& options) {
  if (!options.save_model.empty()) {
    tg::ModelInfo info;
    info.preprocessing = preprocessing;
    if (data.is_regression()) {
      info.task = "regression";
      info.target_names = data.target_names;
    } else {
      info.num_classes = data.num_classes;
      info.class_names = data.class_names;
    }
    tg::save_model(options.save_model, model, info);
    std::printf("saved the model to %s\n", options.save_model.c_str());
  }
  if (!options.export_onnx.empty()) {
    tg::OnnxOptions onnx;
    onnx.softmax_output = !data.is_regression();  // a deployer gets probabilities
    tg::export_onnx(model, preprocessing, options.export_onnx, onnx);
    std::printf("exported the model as ONNX to %s\n", options.export_onnx.c_str());
  }
}

}  // namespace tapegrad_csv
