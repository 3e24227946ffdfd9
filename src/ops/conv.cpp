// Convolutions and pooling: forward and backward side by side.
//
// A convolution unfolds the whole batch into one column matrix (im2col): row (c, ki, kj) of
// it, column (n, oh, ow) holds input[n, c, oh*stride + ki*dilation - padding, ...] (0 in the
// padding). The output of group g is then one GEMM, W_g (C_out/g x K_g) . cols_g (K_g x N*P),
// laid out channel-major (C_out x N*P) and copied to N x C_out x P with the bias added. The
// backward permutes the output gradient to C_out x N*P and makes two GEMMs per group: the
// weight gradient (dY_g . cols_g^T) and the column gradient (W_g^T . dY_g), which col2im adds
// back onto the input gradient. Every product goes through detail::gemm (blocks fixed by the
// shape), one call per block of detail::kBatchBlock images, and the loops around it are split
// over images, so results are bit-identical for any thread count and any split of the batch. The
// column and product buffers live in the op's state and are reused.
#include "tapegrad/ops/conv.hpp"

#include "core/blas.hpp"
#include "core/parallel.hpp"
#include "ops/op_util.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace tg {

using detail::gemm;
using detail::parallel_for;

namespace {

using Index = std::ptrdiff_t;

// The output positions o in [lo, hi) of [0, out) whose input position o*stride + offset lies
// in [0, size).
void valid_range(Index offset, std::size_t stride, std::size_t size, std::size_t out,
                 std::size_t& lo, std::size_t& hi) {
  const Index s = static_cast<Index>(stride);
  const Index first = offset >= 0 ? 0 : (-offset + s - 1) / s;
  const Index end = static_cast<Index>(size) - offset;
  const Index last = end <= 0 ? 0 : (end + s - 1) / s;
  hi = std::min<std::size_t>(static_cast<std::size_t>(last), out);
  lo = std::min<std::size_t>(static_cast<std::size_t>(first), hi);
}

// ---- convolution ----

// The shapes of one convolution (a 1-D one has H = kH = 1, no padding or dilation along H).
struct ConvGeometry {
  std::size_t n = 0, c = 0, h = 0, w = 0;  // input
  std::size_t c_out = 0, kh = 0, kw = 0, groups = 1;
  std::size_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  std::size_t oh = 0, ow = 0;

  std::size_t positions() const { return oh * ow; }           // P, per image and channel
  std::size_t columns() const { return n * positions(); }     // N*P
  std::size_t rows() const { return c * kh * kw; }            // K, all groups
  std::size_t group_rows() const { return rows() / groups; }  // K_g
  std::size_t group_out() const { return c_out / groups; }
};

struct ConvState : OpState {
  ConvGeometry g;
  Tensor cols;           // K x N*P, the unfolded input
  mutable Tensor work;   // C_out x N*P: the forward's product, then the output gradient
  mutable Tensor dcols;  // K x N*P: the gradient of cols
  mutable Tensor wt;     // K_g x C_out/g per group: the weight transposed, for the backward
};

// Unfolds image `image` of x into columns [image*P, (image+1)*P) of cols (row stride N*P).
void im2col(const ConvGeometry& g, const float* x, float* cols, std::size_t image) {
  const std::size_t ld = g.columns(), P = g.positions();
  const float* in = x + image * g.c * g.h * g.w;
  for (std::size_t c = 0; c < g.c; ++c) {
    const float* plane = in + c * g.h * g.w;
    for (std::size_t ki = 0; ki < g.kh; ++ki) {
      const Index off_h = static_cast<Index>(ki * g.dh) - static_cast<Index>(g.ph);
      std::size_t h_lo, h_hi;
      valid_range(off_h, g.sh, g.h, g.oh, h_lo, h_hi);
      for (std::size_t kj = 0; kj < g.kw; ++kj) {
        const Index off_w = static_cast<Index>(kj * g.dw) - static_cast<Index>(g.pw);
        std::size_t w_lo, w_hi;
        valid_range(off_w, g.sw, g.w, g.ow, w_lo, w_hi);
        float* row = cols + ((c * g.kh + ki) * g.kw + kj) * ld + image * P;
        std::fill(row, row + h_lo * g.ow, 0.0f);
        for (std::size_t oh = h_lo; oh < h_hi; ++oh) {
          const float* src = plane + static_cast<Index>(oh * g.sh) * static_cast<Index>(g.w) +
                             off_h * static_cast<Index>(g.w) + off_w;
          float* dst = row + oh * g.ow;
          std::fill(dst, dst + w_lo, 0.0f);
          if (g.sw == 1) {
            std::copy(src + w_lo, src + w_hi, dst + w_lo);
          } else {
            for (std::size_t ow = w_lo; ow < w_hi; ++ow) dst[ow] = src[ow * g.sw];
          }
          std::fill(dst + w_hi, dst + g.ow, 0.0f);
        }
        std::fill(row + h_hi * g.ow, row + P, 0.0f);
      }
    }
  }
}

// Adds columns [image*P, (image+1)*P) of dcols back onto image `image` of dx (col2im).
void col2im_add(const ConvGeometry& g, const float* dcols, float* dx, std::size_t image) {
  const std::size_t ld = g.columns(), P = g.positions();
  float* out = dx + image * g.c * g.h * g.w;
  for (std::size_t c = 0; c < g.c; ++c) {
    float* plane = out + c * g.h * g.w;
    for (std::size_t ki = 0; ki < g.kh; ++ki) {
      const Index off_h = static_cast<Index>(ki * g.dh) - static_cast<Index>(g.ph);
      std::size_t h_lo, h_hi;
      valid_range(off_h, g.sh, g.h, g.oh, h_lo, h_hi);
      for (std::size_t kj = 0; kj < g.kw; ++kj) {
        const Index off_w = static_cast<Index>(kj * g.dw) - static_cast<Index>(g.pw);
        std::size_t w_lo, w_hi;
        valid_range(off_w, g.sw, g.w, g.ow, w_lo, w_hi);
        const float* row = dcols + ((c * g.kh + ki) * g.kw + kj) * ld + image * P;
        for (std::size_t oh = h_lo; oh < h_hi; ++oh) {
          float* dst = plane + static_cast<Index>(oh * g.sh) * static_cast<Index>(g.w) +
                       off_h * static_cast<Index>(g.w) + off_w;
          const float* src = row + oh * g.ow;
          if (g.sw == 1) {
            for (std::size_t ow = w_lo; ow < w_hi; ++ow) dst[ow] += src[ow];
          } else {
            for (std::size_t ow = w_lo; ow < w_hi; ++ow) dst[ow * g.sw] += src[ow];
          }
        }
      }
    }
  }
}

// Runs f(first image, image count) for the batch's blocks of detail::kBatchBlock images. Each
// block's columns are their own gemm calls, so an image's results do not depend on how many
// images the batch has or how it is split over ranks (which get whole blocks).
template <class F>
void for_each_sample_block(const ConvGeometry& g, F f) {
  for (std::size_t first = 0; first < g.n; first += detail::kBatchBlock)
    f(first, std::min(detail::kBatchBlock, g.n - first));
}

}  // namespace

static void conv_backward(Tape& t, const Node& node) {
  const ConvState& s = node.state_as<ConvState>();
  const ConvGeometry& g = s.g;
  const std::size_t NP = g.columns(), P = g.positions();
  if (NP == 0) return;
  const std::size_t kg = g.group_rows(), cg = g.group_out();
  // The output gradient, N x C_out x P, as C_out x N*P.
  resize(s.work, g.c_out, NP);
  const float* dy = node.grad.data();
  float* dyt = s.work.data();
  for (std::size_t n = 0; n < g.n; ++n)
    for (std::size_t co = 0; co < g.c_out; ++co)
      std::copy(dy + (n * g.c_out + co) * P, dy + (n * g.c_out + co + 1) * P,
                dyt + co * NP + n * P);
  // Sums over the batch (bias and weight gradients) go one block of images at a time onto
  // what the gradient holds, in order (see for_each_sample_block).
  if (node.inputs.size() == 3)
    if (Tensor* db = t.grad_at(node.inputs[2]))
      for_each_sample_block(g, [&](std::size_t first, std::size_t count) {
        for (std::size_t co = 0; co < g.c_out; ++co) {
          const float* row = dyt + co * NP + first * P;
          double sum = 0.0;
          for (std::size_t j = 0; j < count * P; ++j) sum += row[j];
          db->data()[co] += static_cast<float>(sum);
        }
      });
  if (Tensor* dw = t.grad_at(node.inputs[1]))
    for_each_sample_block(g, [&](std::size_t first, std::size_t count) {
      for (std::size_t gi = 0; gi < g.groups; ++gi)
        gemm(false, true, cg, kg, count * P, 1.0f, dyt + gi * cg * NP + first * P, NP,
             s.cols.data() + gi * kg * NP + first * P, NP, 1.0f, dw->data() + gi * cg * kg, kg);
    });
  if (Tensor* dx = t.grad_at(node.inputs[0])) {
    const float* w = t.value_at(node.inputs[1]).data();
    resize(s.dcols, g.rows(), NP);
    // Each group's weight transposed (K_g x C_out/g), for the column-major product below.
    resize(s.wt, g.c_out, kg);
    for (std::size_t gi = 0; gi < g.groups; ++gi)
      for (std::size_t co = 0; co < cg; ++co)
        for (std::size_t kk = 0; kk < kg; ++kk)
          s.wt.data()[gi * cg * kg + kk * cg + co] = w[gi * cg * kg + co * kg + kk];
    for_each_sample_block(g, [&](std::size_t first, std::size_t count) {
      for (std::size_t gi = 0; gi < g.groups; ++gi) {
        // Column-major: dcols^T (columns x K_g) = dY^T (columns x C_out/g) . W (C_out/g x K_g).
        const float* dy_g = dyt + gi * cg * NP + first * P;
        float* out = s.dcols.data() + gi * kg * NP + first * P;
        detail::gemm_column_chunks(count * P, kg, cg, dy_g, NP, s.wt.data() + gi * cg * kg, cg,
                                   false, out, NP);
      }
    });
    const float* dcols = s.dcols.data();
    float* dxs = dx->data();
    auto task = [&](std::size_t n) { col2im_add(g, dcols, dxs, n); };
    parallel_for(g.n, task);
  }
}

namespace {

// "5x5", or "5" for a 1-D convolution's (1, 5).
std::string pair_str(bool one_d, std::size_t h, std::size_t w) {
  return one_d ? std::to_string(w) : std::to_string(h) + "x" + std::to_string(w);
}

// Validates and records conv1d (one_d: x is N x C x L, weight C_out x C_in/g x k) or conv2d.
Var conv_impl(const char* op, bool one_d, Var x, Var weight, const Var* bias, Size2 stride,
              Size2 padding, Size2 dilation, std::size_t groups) {
  const Tensor& xv = x.value();
  const Tensor& wv = weight.value();
  const Tensor* bv = bias ? &bias->value() : nullptr;
  const std::size_t rank = one_d ? 3 : 4;
  const std::string name = op;
  if (xv.dimension() != rank)
    throw Error(name + ": input is " + shape_str(xv) + " but must be " +
                (one_d ? "N x C x L (3-D)" : "N x C x H x W (4-D)"));
  if (wv.dimension() != rank)
    throw Error(name + ": weight is " + shape_str(wv) + " but must be " +
                (one_d ? "C_out x C_in/groups x k (3-D)" : "C_out x C_in/groups x kH x kW (4-D)"));
  if (stride.h == 0 || stride.w == 0 || dilation.h == 0 || dilation.w == 0 || groups == 0)
    throw Error(name + ": stride " + pair_str(one_d, stride.h, stride.w) + ", dilation " +
                pair_str(one_d, dilation.h, dilation.w) + " and groups " + std::to_string(groups) +
                " must be positive");
  ConvGeometry g;
  g.n = xv.shape(0);
  g.c = xv.shape(1);
  g.h = one_d ? 1 : xv.shape(2);
  g.w = xv.shape(rank - 1);
  g.c_out = wv.shape(0);
  g.kh = one_d ? 1 : wv.shape(2);
  g.kw = wv.shape(rank - 1);
  g.groups = groups;
  g.sh = stride.h;
  g.sw = stride.w;
  g.ph = padding.h;
  g.pw = padding.w;
  g.dh = dilation.h;
  g.dw = dilation.w;
  if (g.c_out == 0 || wv.shape(1) == 0 || g.kh == 0 || g.kw == 0)
    throw Error(name + ": weight is " + shape_str(wv) + ": every dimension must be positive");
  if (g.c_out % groups != 0)
    throw Error(name + ": weight is " + shape_str(wv) + " but groups is " + std::to_string(groups) +
                ": C_out must be divisible by groups");
  if (wv.shape(1) * groups != g.c)
    throw Error(name + ": input is " + shape_str(xv) + " but weight is " + shape_str(wv) +
                " (groups " + std::to_string(groups) + "): the input must have " +
                std::to_string(wv.shape(1) * groups) + " channels, not " + std::to_string(g.c));
  const std::size_t span_h = g.dh * (g.kh - 1) + 1, span_w = g.dw * (g.kw - 1) + 1;
  const std::size_t padded_h = g.h + 2 * g.ph, padded_w = g.w + 2 * g.pw;
  if (span_h > padded_h || span_w > padded_w)
    throw Error(name + ": input is " + shape_str(xv) + " and weight " + shape_str(wv) +
                ": the kernel spans " + pair_str(one_d, span_h, span_w) + " (dilation " +
                pair_str(one_d, g.dh, g.dw) + "), larger than the padded input " +
                pair_str(one_d, padded_h, padded_w) + " (padding " + pair_str(one_d, g.ph, g.pw) +
                ")");
  if (bv && (bv->dimension() != 1 || bv->size() != g.c_out))
    throw Error(name + ": weight is " + shape_str(wv) + " but bias is " + shape_str(*bv) +
                " (must be " + std::to_string(g.c_out) + ")");
  g.oh = (padded_h - span_h) / g.sh + 1;
  g.ow = (padded_w - span_w) / g.sw + 1;

  Tape& t = x.tape();
  Var out = bias ? t.record(op, {x, weight, *bias}, conv_backward)
                 : t.record(op, {x, weight}, conv_backward);
  ConvState& s = t.state<ConvState>(out);
  s.g = g;
  const std::size_t NP = g.columns(), P = g.positions();
  std::array<std::size_t, 4> shape{g.n, g.c_out, g.oh, g.ow};
  Tensor& y =
      one_d ? t.output(out, std::array<std::size_t, 3>{g.n, g.c_out, g.ow}) : t.output(out, shape);
  resize(s.cols, g.rows(), NP);
  resize(s.work, g.c_out, NP);
  if (NP == 0) return t.finish(out);
  const float* xs = xv.data();
  float* cols = s.cols.data();
  auto unfold = [&](std::size_t n) { im2col(g, xs, cols, n); };
  parallel_for(g.n, unfold);
  const std::size_t kg = g.group_rows(), cg = g.group_out();
  for_each_sample_block(g, [&](std::size_t first, std::size_t count) {
    for (std::size_t gi = 0; gi < groups; ++gi) {
      // Column-major: work^T (columns x C_out/g) = cols^T (columns x K_g) . W^T (K_g x C_out/g).
      const float* w = wv.data() + gi * cg * kg;
      const float* c = cols + gi * kg * NP + first * P;
      float* out = s.work.data() + gi * cg * NP + first * P;
      detail::gemm_column_chunks(count * P, cg, kg, c, NP, w, kg, false, out, NP);
    }
  });
  // C_out x N*P -> N x C_out x P, plus the bias.
  const float* prod = s.work.data();
  float* ys = y.data();
  for (std::size_t n = 0; n < g.n; ++n)
    for (std::size_t co = 0; co < g.c_out; ++co) {
      const float* src = prod + co * NP + n * P;
      float* dst = ys + (n * g.c_out + co) * P;
      const float b = bv ? bv->data()[co] : 0.0f;
      for (std::size_t p = 0; p < P; ++p) dst[p] = src[p] + b;
    }
  return t.finish(out);
}

}  // namespace

Var conv2d(Var input, Var weight, const Var* bias, const Conv2dOptions& o) {
  return conv_impl("conv2d", false, input, weight, bias, o.stride, o.padding, o.dilation, o.groups);
}
Var conv2d(Var input, Var weight, Var bias, const Conv2dOptions& o) {
  return conv2d(input, weight, &bias, o);
}
Var conv2d(Var input, Var weight, const Conv2dOptions& o) {
  return conv2d(input, weight, nullptr, o);
}

Var conv1d(Var input, Var weight, const Var* bias, const Conv1dOptions& o) {
  return conv_impl("conv1d", true, input, weight, bias, Size2(1, o.stride), Size2(0, o.padding),
                   Size2(1, o.dilation), o.groups);
}
Var conv1d(Var input, Var weight, Var bias, const Conv1dOptions& o) {
  return conv1d(input, weight, &bias, o);
}
Var conv1d(Var input, Var weight, const Conv1dOptions& o) {
  return conv1d(input, weight, nullptr, o);
}

// ---- pooling ----

namespace {

struct PoolGeometry {
  std::size_t n = 0, c = 0, h = 0, w = 0;
  std::size_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  std::size_t oh = 0, ow = 0;
  std::size_t planes() const { return n * c; }
};

// Validates a pool's arguments (stride 0 = the kernel) and works out its output size.
PoolGeometry plan_pool(const char* op, const Tensor& x, Size2 kernel, Size2 stride, Size2 padding) {
  const std::string name = op;
  if (x.dimension() != 4)
    throw Error(name + ": input is " + shape_str(x) + " but must be N x C x H x W (4-D)");
  if (stride == Size2(0)) stride = kernel;
  if (kernel.h == 0 || kernel.w == 0 || stride.h == 0 || stride.w == 0)
    throw Error(name + ": kernel " + pair_str(false, kernel.h, kernel.w) + " and stride " +
                pair_str(false, stride.h, stride.w) + " must be positive");
  if (2 * padding.h > kernel.h || 2 * padding.w > kernel.w)
    throw Error(name + ": padding " + pair_str(false, padding.h, padding.w) +
                " must be at most half the kernel " + pair_str(false, kernel.h, kernel.w));
  PoolGeometry g;
  g.n = x.shape(0);
  g.c = x.shape(1);
  g.h = x.shape(2);
  g.w = x.shape(3);
  g.kh = kernel.h;
  g.kw = kernel.w;
  g.sh = stride.h;
  g.sw = stride.w;
  g.ph = padding.h;
  g.pw = padding.w;
  const std::size_t padded_h = g.h + 2 * g.ph, padded_w = g.w + 2 * g.pw;
  if (g.kh > padded_h || g.kw > padded_w)
    throw Error(name + ": input is " + shape_str(x) + " but the kernel " +
                pair_str(false, g.kh, g.kw) + " is larger than the padded input " +
                pair_str(false, padded_h, padded_w) + " (padding " + pair_str(false, g.ph, g.pw) +
                ")");
  g.oh = (padded_h - g.kh) / g.sh + 1;
  g.ow = (padded_w - g.kw) / g.sw + 1;
  return g;
}

// The input rows [lo, hi) of output row o of a sliding window (clipped to the input).
inline void window(std::size_t o, std::size_t stride, std::size_t pad, std::size_t k,
                   std::size_t size, std::size_t& lo, std::size_t& hi) {
  const Index start = static_cast<Index>(o * stride) - static_cast<Index>(pad);
  lo = static_cast<std::size_t>(std::max<Index>(start, 0));
  hi = static_cast<std::size_t>(
      std::min<Index>(start + static_cast<Index>(k), static_cast<Index>(size)));
}

// The input rows [lo, hi) of output cell o of n over `size` (adaptive pooling, as torch).
inline void adaptive_window(std::size_t o, std::size_t n, std::size_t size, std::size_t& lo,
                            std::size_t& hi) {
  lo = o * size / n;
  hi = ((o + 1) * size + n - 1) / n;
}

struct MaxPoolState : OpState {
  PoolGeometry g;
  std::vector<std::uint32_t> argmax;  // per output element: its input's index in the plane
  // The forward's column plan: per kernel column kj, the outputs [lo, hi) whose window has
  // that column inside the input; per output column, its window's first column inside.
  std::vector<std::size_t> cell_lo, cell_hi;
  std::vector<std::uint32_t> first_col;
  bool fast = false;  // the 2x2 stride-2 path (is_pool_2x2) made argmax
};

struct PoolState : OpState {
  PoolGeometry g;
};

// The cnn's pool: 2x2 windows, stride 2, no padding. Its windows never leave the input (an odd
// last row or column is never read), so the fast path needs no clipping.
bool is_pool_2x2(const PoolGeometry& g) {
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
}

// take ? x : y as a bit mask: GCC vectorizes it where a ?: on floats can stay a branch.
inline float select_bits(bool take, float x, float y) {
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(take);
  std::uint32_t xb, yb;
  std::memcpy(&xb, &x, sizeof xb);
  std::memcpy(&yb, &y, sizeof yb);
  xb = (xb & mask) | (yb & ~mask);
  float out;
  std::memcpy(&out, &xb, sizeof out);
  return out;
}

// One step of the generic path's scan: a larger value or a NaN is taken (so the first maximum
// wins ties and the last NaN wins, as in torch), its bits and its index.
inline void take_if_larger(float v, std::uint32_t i, float& best, std::uint32_t& at) {
  const bool take = (v > best) | (v != v);
  best = select_bits(take, v, best);
  at = take ? i : at;
}

// Outputs [o0, o0 + B) of output row oh of a 2x2 pool over a plane of width w: the four cells
// of each window in row-major order, the same steps as the generic path (so the same bits and
// indices). A fixed B lets GCC vectorize it whole (the stride-2 loads become permutes); a loop
// over the row would leave the cnn's 12 outputs to its scalar remainder.
template <std::size_t B>
void max_pool_2x2_block(const float* __restrict plane, std::size_t w, std::size_t oh,
                        std::size_t o0, float* __restrict best, std::uint32_t* __restrict at) {
  const std::uint32_t top = static_cast<std::uint32_t>(2 * oh * w);
  const std::uint32_t bottom = top + static_cast<std::uint32_t>(w);
  const float* r0 = plane + top;
  const float* r1 = plane + bottom;
  float b[B];
  std::uint32_t a[B];
  for (std::size_t k = 0; k < B; ++k) {
    const std::size_t o = o0 + k;
    const std::uint32_t col = static_cast<std::uint32_t>(2 * o);
    b[k] = -std::numeric_limits<float>::infinity();
    a[k] = top + col;
    take_if_larger(r0[2 * o], top + col, b[k], a[k]);
    take_if_larger(r0[2 * o + 1], top + col + 1, b[k], a[k]);
    take_if_larger(r1[2 * o], bottom + col, b[k], a[k]);
    take_if_larger(r1[2 * o + 1], bottom + col + 1, b[k], a[k]);
  }
  for (std::size_t k = 0; k < B; ++k) {
    best[o0 + k] = b[k];
    at[o0 + k] = a[k];
  }
}

// Output row oh (ow outputs, best and at point at its first) in blocks of B; the last block
// ends at the row's end, overlapping the one before (the outputs it recomputes come out the
// same).
template <std::size_t B>
void max_pool_2x2_row_blocks(const float* plane, std::size_t w, std::size_t oh, std::size_t ow,
                             float* best, std::uint32_t* at) {
  for (std::size_t o0 = 0; o0 < ow; o0 += B)
    max_pool_2x2_block<B>(plane, w, oh, std::min(o0, ow - B), best, at);
}

void max_pool_2x2_row(const float* plane, std::size_t w, std::size_t oh, std::size_t ow,
                      float* best, std::uint32_t* at) {
  if (ow >= 8)
    max_pool_2x2_row_blocks<8>(plane, w, oh, ow, best, at);
  else if (ow >= 4)
    max_pool_2x2_row_blocks<4>(plane, w, oh, ow, best, at);
  else
    max_pool_2x2_row_blocks<1>(plane, w, oh, ow, best, at);
}

// The backward of outputs [o0, o0 + B) of output row oh of a 2x2 pool: each window's four
// cells get its gradient if they are its argmax and keep their bits if not (a select, not an
// add of 0, which would turn -0 into +0). The windows do not overlap, so this is the generic
// scatter's result. Fixed B, as in the forward; GCC vectorizes this with permutes, where a loop
// over a row's cells (dy[k / 2]) became gathers.
template <std::size_t B>
void max_pool_2x2_backward_block(float* __restrict plane, std::size_t w, std::size_t oh,
                                 std::size_t o0, const float* __restrict dy,
                                 const std::uint32_t* __restrict at) {
  const std::uint32_t top = static_cast<std::uint32_t>(2 * oh * w);
  const std::uint32_t bottom = top + static_cast<std::uint32_t>(w);
  float* __restrict r0 = plane + top;
  float* __restrict r1 = plane + bottom;
  float c00[B], c01[B], c10[B], c11[B];
  for (std::size_t k = 0; k < B; ++k) {
    const std::size_t o = o0 + k;
    const std::uint32_t col = static_cast<std::uint32_t>(2 * o);
    const std::uint32_t a = at[o];
    const float d = dy[o];
    const float d00 = r0[2 * o], d01 = r0[2 * o + 1], d10 = r1[2 * o], d11 = r1[2 * o + 1];
    c00[k] = select_bits(a == top + col, d00 + d, d00);
    c01[k] = select_bits(a == top + col + 1, d01 + d, d01);
    c10[k] = select_bits(a == bottom + col, d10 + d, d10);
    c11[k] = select_bits(a == bottom + col + 1, d11 + d, d11);
  }
  for (std::size_t k = 0; k < B; ++k) {
    const std::size_t o = o0 + k;
    r0[2 * o] = c00[k];
    r0[2 * o + 1] = c01[k];
    r1[2 * o] = c10[k];
    r1[2 * o + 1] = c11[k];
  }
}

// Output row oh's backward: blocks of 8, one of 4, then one output at a time (an overlapping
// block, as in the forward, would add twice).
void max_pool_2x2_backward_row(float* plane, std::size_t w, std::size_t oh, std::size_t ow,
                               const float* dy, const std::uint32_t* at) {
  std::size_t o0 = 0;
  for (; o0 + 8 <= ow; o0 += 8) max_pool_2x2_backward_block<8>(plane, w, oh, o0, dy, at);
  if (o0 + 4 <= ow) {
    max_pool_2x2_backward_block<4>(plane, w, oh, o0, dy, at);
    o0 += 4;
  }
  for (; o0 < ow; ++o0) max_pool_2x2_backward_block<1>(plane, w, oh, o0, dy, at);
}

}  // namespace

static void max_pool2d_backward(Tape& t, const Node& node) {
  Tensor* dx = t.grad_at(node.inputs[0]);
  if (!dx) return;
  const MaxPoolState& s = node.state_as<MaxPoolState>();
  const PoolGeometry& g = s.g;
  const std::size_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  const float* dy = node.grad.data();
  float* dxs = dx->data();
  const std::uint32_t* arg = s.argmax.data();
  const bool fast = s.fast;
  auto task = [&](std::size_t n) {
    for (std::size_t p = n * g.c; p < (n + 1) * g.c; ++p) {
      if (fast) {
        for (std::size_t oh = 0; oh < g.oh; ++oh) {
          const std::size_t o = p * out_plane + oh * g.ow;
          max_pool_2x2_backward_row(dxs + p * in_plane, g.w, oh, g.ow, dy + o, arg + o);
        }
        continue;
      }
      for (std::size_t o = p * out_plane; o < (p + 1) * out_plane; ++o)
        dxs[p * in_plane + arg[o]] += dy[o];
    }
  };
  parallel_for(g.n, task);
}

namespace {

// max_pool2d; allow_fast = false keeps even a 2x2 stride-2 pool on the generic path (for the
// test that compares the two).
Var max_pool2d_impl(Var input, Size2 kernel_size, Size2 stride, Size2 padding, bool allow_fast) {
  const Tensor& xv = input.value();
  const PoolGeometry g = plan_pool("max_pool2d", xv, kernel_size, stride, padding);
  if (g.h * g.w > std::numeric_limits<std::uint32_t>::max())
    throw Error("max_pool2d: input is " + shape_str(xv) + ": a plane over 2^32 elements");
  Tape& t = input.tape();
  Var out = t.record("max_pool2d", {input}, max_pool2d_backward);
  MaxPoolState& s = t.state<MaxPoolState>(out);
  s.g = g;
  s.argmax.resize(g.planes() * g.oh * g.ow);
  Tensor& y = t.output(out, std::array<std::size_t, 4>{g.n, g.c, g.oh, g.ow});
  const float* xs = xv.data();
  float* ys = y.data();
  std::uint32_t* arg = s.argmax.data();
  s.fast = allow_fast && is_pool_2x2(g);
  if (s.fast) {
    auto task = [&](std::size_t n) {
      for (std::size_t p = n * g.c; p < (n + 1) * g.c; ++p)
        for (std::size_t oh = 0; oh < g.oh; ++oh) {
          const std::size_t o = (p * g.oh + oh) * g.ow;
          max_pool_2x2_row(xs + p * g.h * g.w, g.w, oh, g.ow, ys + o, arg + o);
        }
    };
    parallel_for(g.n, task);
    return t.finish(out);
  }
  s.cell_lo.resize(g.kw);
  s.cell_hi.resize(g.kw);
  for (std::size_t kj = 0; kj < g.kw; ++kj)
    valid_range(static_cast<Index>(kj) - static_cast<Index>(g.pw), g.sw, g.w, g.ow, s.cell_lo[kj],
                s.cell_hi[kj]);
  s.first_col.resize(g.ow);
  for (std::size_t ow = 0; ow < g.ow; ++ow) {
    std::size_t lo, hi;
    window(ow, g.sw, g.pw, g.kw, g.w, lo, hi);
    s.first_col[ow] = static_cast<std::uint32_t>(lo);
  }
  // One output row at a time, the window's cells in row-major order, each over the whole row
  // of outputs. The select is a bit mask: GCC turns a ?: on floats into a branch, which
  // random data mispredicts half the time.
  const std::size_t* cell_lo = s.cell_lo.data();
  const std::size_t* cell_hi = s.cell_hi.data();
  const std::uint32_t* first_col = s.first_col.data();
  auto task = [&](std::size_t n) {
    for (std::size_t p = n * g.c; p < (n + 1) * g.c; ++p) {
      const float* plane = xs + p * g.h * g.w;
      for (std::size_t oh = 0; oh < g.oh; ++oh) {
        std::size_t h_lo, h_hi;
        window(oh, g.sh, g.ph, g.kh, g.h, h_lo, h_hi);
        float* __restrict best = ys + (p * g.oh + oh) * g.ow;
        std::uint32_t* __restrict at = arg + (p * g.oh + oh) * g.ow;
        // -inf, at the window's first cell inside the input, as torch.
        const std::uint32_t first_row = static_cast<std::uint32_t>(h_lo * g.w);
        for (std::size_t ow = 0; ow < g.ow; ++ow) {
          best[ow] = -std::numeric_limits<float>::infinity();
          at[ow] = first_row + first_col[ow];
        }
        for (std::size_t ih = h_lo; ih < h_hi; ++ih)
          for (std::size_t kj = 0; kj < g.kw; ++kj) {
            // Input column ow*sw + kj - pw, its index in the plane ih*w + that.
            const std::uint32_t start =
                static_cast<std::uint32_t>(ih * g.w + kj) - static_cast<std::uint32_t>(g.pw);
            const std::uint32_t sw = static_cast<std::uint32_t>(g.sw);
            for (std::size_t ow = cell_lo[kj], end = cell_hi[kj]; ow < end; ++ow) {
              const std::uint32_t i = start + static_cast<std::uint32_t>(ow) * sw;
              const float v = plane[i];
              // A larger value or a NaN is taken (so a NaN wins and stays, as in torch).
              const std::uint32_t take = 0u - static_cast<std::uint32_t>((v > best[ow]) | (v != v));
              std::uint32_t vb, bb;
              std::memcpy(&vb, &v, sizeof vb);
              std::memcpy(&bb, &best[ow], sizeof bb);
              bb = (vb & take) | (bb & ~take);
              std::memcpy(&best[ow], &bb, sizeof bb);
              at[ow] = (i & take) | (at[ow] & ~take);
            }
          }
      }
    }
  };
  parallel_for(g.n, task);
  return t.finish(out);
}

}  // namespace

Var max_pool2d(Var input, Size2 kernel_size, Size2 stride, Size2 padding) {
  return max_pool2d_impl(input, kernel_size, stride, padding, true);
}

namespace detail {
Var max_pool2d_generic(Var input, Size2 kernel_size, Size2 stride, Size2 padding) {
  return max_pool2d_impl(input, kernel_size, stride, padding, false);
}
}  // namespace detail

static void avg_pool2d_backward(Tape& t, const Node& node) {
  Tensor* dx = t.grad_at(node.inputs[0]);
  if (!dx) return;
  const PoolGeometry& g = node.state_as<PoolState>().g;
  const float inv = 1.0f / static_cast<float>(g.kh * g.kw);
  const float* dy = node.grad.data();
  float* dxs = dx->data();
  auto task = [&](std::size_t n) {
    for (std::size_t p = n * g.c; p < (n + 1) * g.c; ++p) {
      float* plane = dxs + p * g.h * g.w;
      std::size_t o = p * g.oh * g.ow;
      for (std::size_t oh = 0; oh < g.oh; ++oh) {
        std::size_t h_lo, h_hi;
        window(oh, g.sh, g.ph, g.kh, g.h, h_lo, h_hi);
        for (std::size_t ow = 0; ow < g.ow; ++ow, ++o) {
          std::size_t w_lo, w_hi;
          window(ow, g.sw, g.pw, g.kw, g.w, w_lo, w_hi);
          const float d = dy[o] * inv;
          for (std::size_t ih = h_lo; ih < h_hi; ++ih)
            for (std::size_t iw = w_lo; iw < w_hi; ++iw) plane[ih * g.w + iw] += d;
        }
      }
    }
  };
  parallel_for(g.n, task);
}

Var avg_pool2d(Var input, Size2 kernel_size, Size2 stride, Size2 padding) {
  const Tensor& xv = input.value();
  const PoolGeometry g = plan_pool("avg_pool2d", xv, kernel_size, stride, padding);
  Tape& t = input.tape();
  Var out = t.record("avg_pool2d", {input}, avg_pool2d_backward);
  t.state<PoolState>(out).g = g;
  Tensor& y = t.output(out, std::array<std::size_t, 4>{g.n, g.c, g.oh, g.ow});
  // With count_include_pad and no ceil mode every window counts kH*kW elements.
  const float inv = 1.0f / static_cast<float>(g.kh * g.kw);
  const float* xs = xv.data();
  float* ys = y.data();
  auto task = [&](std::size_t n) {
    for (std::size_t p = n * g.c; p < (n + 1) * g.c; ++p) {
      const float* plane = xs + p * g.h * g.w;
      std::size_t o = p * g.oh * g.ow;
      for (std::size_t oh = 0; oh < g.oh; ++oh) {
        std::size_t h_lo, h_hi;
        window(oh, g.sh, g.ph, g.kh, g.h, h_lo, h_hi);
        for (std::size_t ow = 0; ow < g.ow; ++ow, ++o) {
          std::size_t w_lo, w_hi;
          window(ow, g.sw, g.pw, g.kw, g.w, w_lo, w_hi);
          float sum = 0.0f;
          for (std::size_t ih = h_lo; ih < h_hi; ++ih)
            for (std::size_t iw = w_lo; iw < w_hi; ++iw) sum += plane[ih * g.w + iw];
          ys[o] = sum * inv;
        }
      }
    }
  };
  parallel_for(g.n, task);
  return t.finish(out);
}

static void adaptive_avg_pool2d_backward(Tape& t, const Node& node) {
  Tensor* dx = t.grad_at(node.inputs[0]);
  if (!dx) return;
  const PoolGeometry& g = node.state_as<PoolState>().g;
  const float* dy = node.grad.data();
  float* dxs = dx->data();
  auto task = [&](std::size_t n) {
    for (std::size_t p = n * g.c; p < (n + 1) * g.c; ++p) {
      float* plane = dxs + p * g.h * g.w;
      std::size_t o = p * g.oh * g.ow;
      for (std::size_t oh = 0; oh < g.oh; ++oh) {
        std::size_t h_lo, h_hi;
        adaptive_window(oh, g.oh, g.h, h_lo, h_hi);
        for (std::size_t ow = 0; ow < g.ow; ++ow, ++o) {
          std::size_t w_lo, w_hi;
          adaptive_window(ow, g.ow, g.w, w_lo, w_hi);
          const float d = dy[o] / static_cast<float>((h_hi - h_lo) * (w_hi - w_lo));
          for (std::size_t ih = h_lo; ih < h_hi; ++ih)
            for (std::size_t iw = w_lo; iw < w_hi; ++iw) plane[ih * g.w + iw] += d;
        }
      }
    }
  };
  parallel_for(g.n, task);
}

Var adaptive_avg_pool2d(Var input, Size2 output_size) {
  const Tensor& xv = input.value();
  if (xv.dimension() != 4)
    throw Error("adaptive_avg_pool2d: input is " + shape_str(xv) +
                " but must be N x C x H x W (4-D)");
  if (output_size.h == 0 || output_size.w == 0)
    throw Error("adaptive_avg_pool2d: output size " +
                pair_str(false, output_size.h, output_size.w) + " must be positive");
  if (xv.shape(2) == 0 || xv.shape(3) == 0)
    throw Error("adaptive_avg_pool2d: input is " + shape_str(xv) + ": H and W must be positive");
  PoolGeometry g;
  g.n = xv.shape(0);
  g.c = xv.shape(1);
  g.h = xv.shape(2);
  g.w = xv.shape(3);
  g.oh = output_size.h;
  g.ow = output_size.w;
  Tape& t = input.tape();
  Var out = t.record("adaptive_avg_pool2d", {input}, adaptive_avg_pool2d_backward);
  t.state<PoolState>(out).g = g;
  Tensor& y = t.output(out, std::array<std::size_t, 4>{g.n, g.c, g.oh, g.ow});
  const float* xs = xv.data();
  float* ys = y.data();
  auto task = [&](std::size_t n) {
    for (std::size_t p = n * g.c; p < (n + 1) * g.c; ++p) {
      const float* plane = xs + p * g.h * g.w;
      std::size_t o = p * g.oh * g.ow;
      for (std::size_t oh = 0; oh < g.oh; ++oh) {
        std::size_t h_lo, h_hi;
        adaptive_window(oh, g.oh, g.h, h_lo, h_hi);
        for (std::size_t ow = 0; ow < g.ow; ++ow, ++o) {
          std::size_t w_lo, w_hi;
          adaptive_window(ow, g.ow, g.w, w_lo, w_hi);
          float sum = 0.0f;
          for (std::size_t ih = h_lo; ih < h_hi; ++ih)
            for (std::size_t iw = w_lo; iw < w_hi; ++iw) sum += plane[ih * g.w + iw];
          ys[o] = sum / static_cast<float>((h_hi - h_lo) * (w_hi - w_lo));
        }
      }
    }
  };
  parallel_for(g.n, task);
  return t.finish(out);
}

}  // namespace tg
