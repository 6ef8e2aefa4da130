// CPU forward and backward kernels of dprobe::composite_crop (spec: composite_crop_reference in dprobe/ops.py).
//
// Conventions (align_corners=False, zeros padding, as F.affine_grid / F.grid_sample):
//   crop-normalised (u, v) of output pixel (oy, ox):   u = (2 ox + 1) / ow - 1, v likewise.
//   frame-normalised point g = dst_theta @ (u, v, 1);  frame pixel coords X = ((gx + 1) W - 1) / 2.
//   Its four frame neighbours (bilinear weights w_n, zero outside the frame) are composited on the
//   fly: at the centre p of frame pixel (fy, fx), q = inv(src_theta) @ (p, 1) gives the point in the
//   decoded crop, F and M are sampled bilinearly there (zeros outside the crop) and the composite
//   is M F + (1 - M) background[fy, fx].
// Work per output pixel: 4 frame taps x 4 crop taps, the weights computed once per pixel and
// reused across channels. Nothing frame-sized is touched except the background taps themselves
// (and, in the backward, the background gradient when it is requested). The backward needs, per
// frame neighbour, only the tap sums sum_c g_c fg_c[tap] and sum_c g_c bg_c: the mask and theta
// gradients follow from them with the same weights; channel loops are unrolled for C = 1 and 3.
//
// Batches whose thetas neither rotate nor shear (axis-aligned boxes, the common case) take the
// separable path of cpu/composite_crop_separable.h instead: the composite is computed once per
// touched frame pixel with per-row / per-column weight tables. Other batches take the tiled path
// of cpu/composite_crop_tiled.h: the composite is computed once per frame pixel the output taps
// (collected per item into runs of frame pixels), then sampled. The kernels below are the general
// affine path, the fallback where the tiled path does not apply (tiled::applies) or is switched
// off (op dprobe::_composite_crop_set_tiled, for tests and benchmarks).
//
// Layouts: the output and the crop gradients are laid out like fg and mask (channels-last in,
// channels-last out: Tensor::suggest_memory_format; the fake kernels in dprobe/ops.py promise
// the same). The separable path reads and writes them through their strides; the tiled and
// general paths work on planar copies.
//
// Parallelism: at::parallel_for over the flattened (batch, output row) range.
//   forward:  every output row is written by one task only.
//   backward: the range is cut into one contiguous chunk per thread. A chunk writes the crop
//             gradients of a batch it covers completely directly into the result; a batch it
//             shares with a neighbouring chunk goes to a chunk-local crop-sized buffer, added
//             afterwards in chunk order. Theta gradients go to chunk-local double accumulators.
//             The background gradient is written in a second pass partitioned by (batch, channel)
//             plane of the background gradient, so every plane has one writer, also when the
//             background is broadcast from batch 1. Results are deterministic for a given number
//             of threads.
#include "ops/composite_crop.h"
#include "cpu/composite_crop_separable.h"
#include "cpu/composite_crop_tiled.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace dprobe {

namespace {

// floor() for x >= -1 (callers range-check first); std::floor is a libm call on baseline x86-64.
using separable::floor_from_m1;

// Bilinear taps of a point (x, y) in pixel coordinates of an (h, w) image, align_corners=False
// unnormalisation already applied. Taps outside the image get weight 0 and index 0.
template <typename T>
struct Taps {
  T a[4];         // weights of (y0,x0), (y0,x1), (y1,x0), (y1,x1)
  T dax[4];       // d a / d x   (backward only)
  T day[4];       // d a / d y   (backward only)
  int64_t yi[4];  // tap rows
  int64_t xi[4];  // tap columns
  bool ok[4];
  bool any;
  bool all;  // all four taps valid
};

template <typename T, bool kGrad>
inline void make_taps(double x, double y, int64_t h, int64_t w, Taps<T>& t) {
  // Outside [-1, w] x [-1, h] no tap is valid (this also keeps the integer conversion in range).
  if (!(x >= -1.0 && x <= static_cast<double>(w) && y >= -1.0 && y <= static_cast<double>(h))) {
    t.any = false;
    t.all = false;
    return;
  }
  const int64_t x0 = floor_from_m1(x), y0 = floor_from_m1(y);
  const double tx = x - static_cast<double>(x0), ty = y - static_cast<double>(y0);
  const T wx0 = static_cast<T>(1.0 - tx), wx1 = static_cast<T>(tx);
  const T wy0 = static_cast<T>(1.0 - ty), wy1 = static_cast<T>(ty);
  t.xi[0] = t.xi[2] = x0;
  t.xi[1] = t.xi[3] = x0 + 1;
  t.yi[0] = t.yi[1] = y0;
  t.yi[2] = t.yi[3] = y0 + 1;
  t.a[0] = wx0 * wy0;
  t.a[1] = wx1 * wy0;
  t.a[2] = wx0 * wy1;
  t.a[3] = wx1 * wy1;
  if (kGrad) {
    t.dax[0] = -wy0;
    t.dax[1] = wy0;
    t.dax[2] = -wy1;
    t.dax[3] = wy1;
    t.day[0] = -wx0;
    t.day[1] = -wx1;
    t.day[2] = wx0;
    t.day[3] = wx1;
  }
  if (x0 >= 0 && x0 + 1 < w && y0 >= 0 && y0 + 1 < h) {  // interior: all four taps valid
    t.ok[0] = t.ok[1] = t.ok[2] = t.ok[3] = true;
    t.any = true;
    t.all = true;
    return;
  }
  t.any = false;
  t.all = false;
  for (int k = 0; k < 4; ++k) {
    const bool ok = t.xi[k] >= 0 && t.xi[k] < w && t.yi[k] >= 0 && t.yi[k] < h;
    t.ok[k] = ok;
    t.any = t.any || ok;
    if (!ok) {
      t.xi[k] = 0;
      t.yi[k] = 0;
      t.a[k] = T(0);
      if (kGrad) {
        t.dax[k] = T(0);
        t.day[k] = T(0);
      }
    }
  }
}

// Per-batch affine maps in pixel units:
//   output pixel (ox, oy) -> frame pixel coords  X = fX[0] + fX[1] ox + fX[2] oy  (Y with fY)
//   frame pixel (fx, fy)  -> crop pixel coords   x = cX[0] + cX[1] fx + cX[2] fy  (y with cY)
// (dst_theta / inverse src_theta composed with the align_corners=False (un)normalisations).
struct Geometry {
  int64_t B, C, h, w, H, W, oh, ow, Bb;
  std::vector<double> dst;   // B x 6, dst_theta
  std::vector<double> sinv;  // B x 6, inverse of src_theta
  std::vector<double> src;   // B x 6, src_theta
  std::vector<double> pix;   // B x 12: fX[3], fY[3], cX[3], cY[3]
};

Geometry make_geometry(const at::Tensor& fg, const at::Tensor& background,
                       const at::Tensor& src_theta, const at::Tensor& dst_theta, int64_t oh,
                       int64_t ow) {
  Geometry g;
  g.B = fg.size(0);
  g.C = fg.size(1);
  g.h = fg.size(2);
  g.w = fg.size(3);
  g.Bb = background.size(0);
  g.H = background.size(2);
  g.W = background.size(3);
  g.oh = oh;
  g.ow = ow;
  const at::Tensor d = dst_theta.to(at::kDouble).contiguous();
  const at::Tensor s = src_theta.to(at::kDouble).contiguous();
  g.dst.assign(d.const_data_ptr<double>(), d.const_data_ptr<double>() + 6 * g.B);
  g.src.assign(s.const_data_ptr<double>(), s.const_data_ptr<double>() + 6 * g.B);
  g.sinv.resize(6 * g.B);
  g.pix.resize(12 * g.B);
  const double W = static_cast<double>(g.W), H = static_cast<double>(g.H);
  const double w = static_cast<double>(g.w), h = static_cast<double>(g.h);
  const double OW = static_cast<double>(ow), OH = static_cast<double>(oh);
  for (int64_t b = 0; b < g.B; ++b) {
    const double* t = &g.src[6 * b];
    double* r = &g.sinv[6 * b];
    const double det = t[0] * t[4] - t[1] * t[3];
    const double i00 = t[4] / det, i01 = -t[1] / det, i10 = -t[3] / det, i11 = t[0] / det;
    r[0] = i00;
    r[1] = i01;
    r[2] = -(i00 * t[2] + i01 * t[5]);
    r[3] = i10;
    r[4] = i11;
    r[5] = -(i10 * t[2] + i11 * t[5]);
    // normalised u = (2 ox + 1)/OW - 1 = ox * 2/OW + (1/OW - 1); X = (gx + 1) W/2 - 1/2.
    const double* D = &g.dst[6 * b];
    double* P = &g.pix[12 * b];
    const double u0 = 1.0 / OW - 1.0, v0 = 1.0 / OH - 1.0;
    P[0] = (D[0] * u0 + D[1] * v0 + D[2] + 1.0) * 0.5 * W - 0.5;
    P[1] = D[0] * (2.0 / OW) * 0.5 * W;
    P[2] = D[1] * (2.0 / OH) * 0.5 * W;
    P[3] = (D[3] * u0 + D[4] * v0 + D[5] + 1.0) * 0.5 * H - 0.5;
    P[4] = D[3] * (2.0 / OW) * 0.5 * H;
    P[5] = D[4] * (2.0 / OH) * 0.5 * H;
    const double p0 = 1.0 / W - 1.0, q0 = 1.0 / H - 1.0;
    P[6] = (r[0] * p0 + r[1] * q0 + r[2] + 1.0) * 0.5 * w - 0.5;
    P[7] = r[0] * (2.0 / W) * 0.5 * w;
    P[8] = r[1] * (2.0 / H) * 0.5 * w;
    P[9] = (r[3] * p0 + r[4] * q0 + r[5] + 1.0) * 0.5 * h - 0.5;
    P[10] = r[3] * (2.0 / W) * 0.5 * h;
    P[11] = r[4] * (2.0 / H) * 0.5 * h;
  }
  return g;
}

// True when no theta of the batch rotates or shears: the separable kernels apply.
bool axis_aligned(const Geometry& g) {
  for (int64_t b = 0; b < g.B; ++b) {
    const double* P = &g.pix[12 * b];
    if (P[2] != 0.0 || P[4] != 0.0 || P[8] != 0.0 || P[10] != 0.0) return false;
  }
  return true;
}

separable::Problem separable_problem(const Geometry& g, const at::Tensor& bg) {
  return {g.B,         g.C,         g.h,         g.w,         g.H,
          g.W,         g.oh,        g.ow,        g.Bb,        g.Bb == 1 ? 0 : bg.stride(0),
          bg.stride(1), bg.stride(2), bg.stride(3), g.pix.data()};
}

// Whether general-affine batches take the tiled path (default) or the general kernels below.
std::atomic<bool> g_tiled_enabled{true};

// Which kernel a batch takes.
enum class Path { kSeparable, kTiled, kGeneral };

Path choose_path(const Geometry& g, const separable::Problem& problem) {
  if (axis_aligned(g)) return Path::kSeparable;
  if (g_tiled_enabled.load() && tiled::applies(problem)) return Path::kTiled;
  return Path::kGeneral;
}

// The layout a path writes crop-sized results in: the separable path writes them in the layout
// they are returned in; the others write planar ones.
at::MemoryFormat kernel_format(Path path, at::MemoryFormat returned) {
  return path == Path::kSeparable ? returned : at::MemoryFormat::Contiguous;
}

constexpr int64_t kStackChannels = 16;

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------
template <typename scalar_t, int kC>  // kC > 0: channel count known at compile time
void forward_impl(const Geometry& g, const at::Tensor& fg_in, const at::Tensor& mask_in,
                  const at::Tensor& bg, at::Tensor& out) {
  // The crop-sized inputs are made contiguous (cheap; the offsets of fg, mask and of their
  // gradients then coincide); the frame-sized background is read through its strides as it is.
  const at::Tensor fg = fg_in.contiguous();
  const at::Tensor mask = mask_in.contiguous();
  const scalar_t* const fg_p = fg.const_data_ptr<scalar_t>();
  const scalar_t* const m_p = mask.const_data_ptr<scalar_t>();
  const scalar_t* const bg_p = bg.const_data_ptr<scalar_t>();
  scalar_t* const out_p = out.data_ptr<scalar_t>();
  const int64_t bsb = g.Bb == 1 ? 0 : bg.stride(0), bsc = bg.stride(1), bsy = bg.stride(2),
                bsx = bg.stride(3);
  const int64_t C = kC > 0 ? kC : g.C, oh = g.oh, ow = g.ow, H = g.H, W = g.W, h = g.h, w = g.w;
  const int64_t cplane = h * w, oplane = oh * ow;
  const int64_t rows = g.B * oh;
  const int64_t grain = std::max<int64_t>(1, 2048 / std::max<int64_t>(1, ow * C));
  const double* const pix = g.pix.data();

  at::parallel_for(0, rows, grain, [=](int64_t begin, int64_t end) {
    Taps<scalar_t> ft;  // frame taps of the output pixel
    Taps<scalar_t> ct;  // crop taps of one frame neighbour
    // Per output pixel, the whole computation is out_c = sum_j cf[j] fg_c[fo[j]] +
    // sum_n cb[n] bg_c[bo[n]]: the weights are computed once and reused for every channel.
    scalar_t cf[16], cb[4];
    int64_t fo[16], bo[4];
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / oh, oy = r % oh;
      const double* P = pix + 12 * b;
      const scalar_t* fgb = fg_p + b * C * cplane;
      const scalar_t* mb = m_p + b * cplane;
      const scalar_t* bgb = bg_p + b * bsb;
      scalar_t* outb = out_p + b * C * oplane + oy * ow;
      const double Xr = P[0] + P[2] * oy, Yr = P[3] + P[5] * oy;
      for (int64_t ox = 0; ox < ow; ++ox) {
        make_taps<scalar_t, false>(Xr + P[1] * ox, Yr + P[4] * ox, H, W, ft);
        int nf = 0, nb = 0;
        if (ft.any) {
          for (int n = 0; n < 4; ++n) {
            if (!ft.ok[n]) continue;
            const int64_t fx = ft.xi[n], fy = ft.yi[n];
            const scalar_t wn = ft.a[n];
            make_taps<scalar_t, false>(P[6] + P[7] * fx + P[8] * fy, P[9] + P[10] * fx + P[11] * fy,
                                       h, w, ct);
            scalar_t M = 0;
            if (ct.any) {
              int64_t o[4];
              for (int k = 0; k < 4; ++k) {
                o[k] = ct.yi[k] * w + ct.xi[k];
                M += ct.a[k] * mb[o[k]];
              }
              const scalar_t wM = wn * M;
              if (ct.all) {
                for (int k = 0; k < 4; ++k) {
                  cf[nf + k] = wM * ct.a[k];
                  fo[nf + k] = o[k];
                }
                nf += 4;
              } else {
                for (int k = 0; k < 4; ++k) {
                  if (!ct.ok[k]) continue;
                  cf[nf] = wM * ct.a[k];
                  fo[nf] = o[k];
                  ++nf;
                }
              }
            }
            cb[nb] = wn * (scalar_t(1) - M);
            bo[nb] = fy * bsy + fx * bsx;
            ++nb;
          }
        }
        if constexpr (kC > 0) {  // taps outer, channels unrolled in registers
          scalar_t acc[kC > 0 ? kC : 1];
          for (int c = 0; c < kC; ++c) acc[c] = scalar_t(0);
          for (int j = 0; j < nf; ++j) {
            const scalar_t* f = fgb + fo[j];
            const scalar_t cj = cf[j];
            for (int c = 0; c < kC; ++c) acc[c] += cj * f[c * cplane];
          }
          for (int j = 0; j < nb; ++j) {
            const scalar_t* bgn = bgb + bo[j];
            const scalar_t cj = cb[j];
            for (int c = 0; c < kC; ++c) acc[c] += cj * bgn[c * bsc];
          }
          for (int c = 0; c < kC; ++c) outb[c * oplane + ox] = acc[c];
        } else {
          for (int64_t c = 0; c < C; ++c) {
            const scalar_t* f = fgb + c * cplane;
            const scalar_t* bgc = bgb + c * bsc;
            scalar_t acc = 0;
            for (int j = 0; j < nf; ++j) acc += cf[j] * f[fo[j]];
            for (int j = 0; j < nb; ++j) acc += cb[j] * bgc[bo[j]];
            outb[c * oplane + ox] = acc;
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------
template <typename scalar_t, int kC>
void backward_impl(const Geometry& g, const at::Tensor& grad_out_in, const at::Tensor& fg_in,
                   const at::Tensor& mask_in, const at::Tensor& bg, bool need_fg, bool need_mask,
                   bool need_bg, bool need_src, bool need_dst, at::Tensor& grad_fg,
                   at::Tensor& grad_mask, at::Tensor& grad_bg, std::vector<double>& gsinv,
                   std::vector<double>& gdst) {
  // Crop-sized tensors contiguous (offsets shared by fg, mask and their gradients); the
  // background is read through its strides.
  const at::Tensor grad_out = grad_out_in.contiguous();
  const at::Tensor fg = fg_in.contiguous();
  const at::Tensor mask = mask_in.contiguous();
  const scalar_t* const go_p = grad_out.const_data_ptr<scalar_t>();
  const scalar_t* const fg_p = fg.const_data_ptr<scalar_t>();
  const scalar_t* const m_p = mask.const_data_ptr<scalar_t>();
  const scalar_t* const bg_p = bg.const_data_ptr<scalar_t>();
  const int64_t bsb = g.Bb == 1 ? 0 : bg.stride(0), bsc = bg.stride(1), bsy = bg.stride(2),
                bsx = bg.stride(3);
  const int64_t B = g.B, C = kC > 0 ? kC : g.C, oh = g.oh, ow = g.ow, H = g.H, W = g.W,
                h = g.h, w = g.w;
  const int64_t cplane = h * w, oplane = oh * ow;
  const int64_t rows = B * oh;
  const bool need_crop = need_fg || need_mask;
  scalar_t* const gfg_p = need_fg ? grad_fg.data_ptr<scalar_t>() : nullptr;
  scalar_t* const gm_p = need_mask ? grad_mask.data_ptr<scalar_t>() : nullptr;
  const double* const pix = g.pix.data();

  // Per output pixel, for the background pass: top-left frame tap and the 4 coefficients
  // w_n (1 - M_n) (zero for taps outside the frame).
  std::vector<int32_t> bg_xy;
  std::vector<scalar_t> bg_s;
  if (need_bg) {
    bg_xy.resize(static_cast<size_t>(2 * rows * ow));
    bg_s.resize(static_cast<size_t>(4 * rows * ow));
  }
  int32_t* const bg_xy_p = bg_xy.data();
  scalar_t* const bg_s_p = bg_s.data();

  const int64_t nchunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
  struct Chunk {
    int64_t begin = 0, end = 0, b_first = 0, b_last = -1;
    std::vector<scalar_t> part_fg[2], part_m[2];  // crop grads of a shared first / last batch
    std::vector<double> theta;                    // (b_last - b_first + 1) x 12
    char pad[64];                                 // keep chunks on separate cache lines
  };
  std::vector<Chunk> chunks(static_cast<size_t>(nchunks));
  for (int64_t k = 0; k < nchunks; ++k) {
    Chunk& ch = chunks[k];
    ch.begin = rows * k / nchunks;
    ch.end = rows * (k + 1) / nchunks;
    if (ch.end > ch.begin) {
      ch.b_first = ch.begin / oh;
      ch.b_last = (ch.end - 1) / oh;
      ch.theta.assign(static_cast<size_t>(12 * (ch.b_last - ch.b_first + 1)), 0.0);
    }
  }
  auto owns = [oh](const Chunk& ch, int64_t b) {
    return ch.begin <= b * oh && ch.end >= (b + 1) * oh;
  };

  at::parallel_for(0, nchunks, 1, [&](int64_t kbegin, int64_t kend) {
    // Everything the pixel loop needs, as locals (no reloads through the closure).
    const int64_t lC = kC > 0 ? kC : C, loh = oh, low = ow, lH = H, lW = W, lh = h, lw = w;
    const int64_t lcplane = cplane, loplane = oplane;
    const int64_t lbsb = bsb, lbsc = bsc, lbsy = bsy, lbsx = bsx;
    const bool lneed_fg = need_fg, lneed_mask = need_mask, lneed_bg = need_bg;
    const bool lneed_src = need_src, lneed_dst = need_dst;
    c10::SmallVector<scalar_t, kStackChannels> gvals(static_cast<size_t>(lC));
    Taps<scalar_t> ft, ct;
    // Valid crop taps j of the pixel's valid frame neighbours n (<= 16):
    int64_t to[16];     // crop offset
    scalar_t ta[16];    // bilinear weight a
    scalar_t tdx[16];   // d a / d x
    scalar_t tdy[16];   // d a / d y
    scalar_t tcf[16];   // w_n M_n a  (fg gradient coefficient)
    scalar_t tsum[16];  // sum_c g_c fg_c[to]
    // Per valid frame neighbour n (<= 4):
    int64_t nbo[4];     // background offset
    scalar_t nw[4], nM[4], nMx[4], nMy[4], nTB[4];
    double npx[4], npy[4];
    int nidx[4];        // index 0..3 of the neighbour in the 2x2 block (for the frame weights)
    int nstart[5];      // the taps of neighbour n are j in [nstart[n], nstart[n + 1])
    for (int64_t k = kbegin; k < kend; ++k) {
      Chunk& ch = chunks[k];
      int64_t cur_b = -1;
      scalar_t* dfg = nullptr;  // where this chunk writes the crop grads of cur_b
      scalar_t* dm = nullptr;
      double* th = nullptr;
      for (int64_t r = ch.begin; r < ch.end; ++r) {
        const int64_t b = r / loh, oy = r % loh;
        if (b != cur_b) {
          cur_b = b;
          th = &ch.theta[12 * (b - ch.b_first)];
          dfg = nullptr;
          dm = nullptr;
          if (need_crop) {
            if (owns(ch, b)) {
              dfg = lneed_fg ? gfg_p + b * lC * lcplane : nullptr;
              dm = lneed_mask ? gm_p + b * lcplane : nullptr;
            } else {
              const int slot = (b == ch.b_first) ? 0 : 1;
              if (lneed_fg) {
                ch.part_fg[slot].assign(static_cast<size_t>(lC * lcplane), scalar_t(0));
                dfg = ch.part_fg[slot].data();
              }
              if (lneed_mask) {
                ch.part_m[slot].assign(static_cast<size_t>(lcplane), scalar_t(0));
                dm = ch.part_m[slot].data();
              }
            }
          }
        }
        const double* P = pix + 12 * b;
        const scalar_t* fgb = fg_p + b * lC * lcplane;
        const scalar_t* mb = m_p + b * lcplane;
        const scalar_t* bgb = bg_p + b * lbsb;
        const scalar_t* gob = go_p + b * lC * loplane + oy * low;
        const double v = (2.0 * oy + 1.0) / loh - 1.0;
        const double Xr = P[0] + P[2] * oy, Yr = P[3] + P[5] * oy;
        double gS[6] = {0, 0, 0, 0, 0, 0}, gD[6] = {0, 0, 0, 0, 0, 0};
        for (int64_t ox = 0; ox < low; ++ox) {
          const int64_t pixel = r * low + ox;
          const double X = Xr + P[1] * ox, Y = Yr + P[4] * ox;
          make_taps<scalar_t, true>(X, Y, lH, lW, ft);
          if (lneed_bg) {
            bg_xy_p[2 * pixel] = ft.any ? static_cast<int32_t>(floor_from_m1(X)) : INT32_MIN;
            bg_xy_p[2 * pixel + 1] = ft.any ? static_cast<int32_t>(floor_from_m1(Y)) : INT32_MIN;
            for (int n = 0; n < 4; ++n) bg_s_p[4 * pixel + n] = scalar_t(0);
          }
          if (!ft.any) continue;
          bool gnz = false;
          for (int64_t c = 0; c < lC; ++c) {
            gvals[c] = gob[c * loplane + ox];
            gnz = gnz || gvals[c] != scalar_t(0);
          }
          if (!gnz) continue;  // nothing flows back through this pixel

          // Geometry of the pixel: frame neighbours, their crop taps, M and dM/dx.
          int nn = 0, nt = 0;
          for (int n = 0; n < 4; ++n) {
            if (!ft.ok[n]) continue;
            const int64_t fx = ft.xi[n], fy = ft.yi[n];
            make_taps<scalar_t, true>(P[6] + P[7] * fx + P[8] * fy, P[9] + P[10] * fx + P[11] * fy,
                                      lh, lw, ct);
            nstart[nn] = nt;
            scalar_t M = 0, Mx = 0, My = 0;
            auto add_tap = [&](int kk) {
              const int64_t o = ct.yi[kk] * lw + ct.xi[kk];
              const scalar_t mv = mb[o];
              M += ct.a[kk] * mv;
              Mx += ct.dax[kk] * mv;
              My += ct.day[kk] * mv;
              to[nt] = o;
              ta[nt] = ct.a[kk];
              tdx[nt] = ct.dax[kk];
              tdy[nt] = ct.day[kk];
              ++nt;
            };
            if (ct.all) {
              for (int kk = 0; kk < 4; ++kk) add_tap(kk);
            } else if (ct.any) {
              for (int kk = 0; kk < 4; ++kk)
                if (ct.ok[kk]) add_tap(kk);
            }
            const scalar_t wn = ft.a[n];
            const scalar_t wM = wn * M;
            for (int j = nstart[nn]; j < nt; ++j) tcf[j] = wM * ta[j];
            nbo[nn] = fy * lbsy + fx * lbsx;
            nw[nn] = wn;
            nM[nn] = M;
            nMx[nn] = Mx;
            nMy[nn] = My;
            npx[nn] = (2.0 * fx + 1.0) / lW - 1.0;
            npy[nn] = (2.0 * fy + 1.0) / lH - 1.0;
            nidx[nn] = n;
            if (lneed_bg) bg_s_p[4 * pixel + n] = wn * (scalar_t(1) - M);
            ++nn;
          }
          nstart[nn] = nt;

          // Channels: the tap sums sum_c g_c fg_c[tap] and sum_c g_c bg_c[n] carry everything
          // the thetas and the mask need; the fg gradient is scattered with precomputed weights.
          // (taps outer, channels inner: with the channel count known at compile time the
          // channel loops unroll and nothing is read-modified-written on the stack)
          const scalar_t* gv = gvals.data();
          for (int j = 0; j < nt; ++j) {
            const scalar_t* f = fgb + to[j];
            scalar_t t = 0;
            for (int64_t c = 0; c < lC; ++c) t += gv[c] * f[c * lcplane];
            tsum[j] = t;
          }
          for (int n = 0; n < nn; ++n) {
            const scalar_t* bgn = bgb + nbo[n];
            scalar_t t = 0;
            for (int64_t c = 0; c < lC; ++c) t += gv[c] * bgn[c * lbsc];
            nTB[n] = t;
          }
          if (dfg) {
            for (int j = 0; j < nt; ++j) {
              scalar_t* d = dfg + to[j];
              const scalar_t cf = tcf[j];
              for (int64_t c = 0; c < lC; ++c) d[c * lcplane] += cf * gv[c];
            }
          }

          // Per neighbour: sum_c g_c F_c and its derivatives along the crop axes.
          double dLdX = 0, dLdY = 0;
          for (int n = 0; n < nn; ++n) {
            scalar_t TF = 0, TX = 0, TY = 0;
            const int j0 = nstart[n], j1 = nstart[n + 1];
            for (int j = j0; j < j1; ++j) {
              TF += ta[j] * tsum[j];
              TX += tdx[j] * tsum[j];
              TY += tdy[j] * tsum[j];
            }
            const scalar_t M = nM[n], wn = nw[n];
            const scalar_t dLdM = wn * (TF - nTB[n]);
            if (dm) {
              for (int j = j0; j < j1; ++j) dm[to[j]] += ta[j] * dLdM;
            }
            if (lneed_src) {
              const double dLdcx = static_cast<double>(wn * M * TX + dLdM * nMx[n]);
              const double dLdcy = static_cast<double>(wn * M * TY + dLdM * nMy[n]);
              const double dqx = dLdcx * 0.5 * lw, dqy = dLdcy * 0.5 * lh;
              gS[0] += dqx * npx[n];
              gS[1] += dqx * npy[n];
              gS[2] += dqx;
              gS[3] += dqy * npx[n];
              gS[4] += dqy * npy[n];
              gS[5] += dqy;
            }
            if (lneed_dst) {  // ft.dax / ft.day hold d w_n / dX and d w_n / dY
              const double gcomp = static_cast<double>(M * TF + (scalar_t(1) - M) * nTB[n]);
              dLdX += static_cast<double>(ft.dax[nidx[n]]) * gcomp;
              dLdY += static_cast<double>(ft.day[nidx[n]]) * gcomp;
            }
          }
          if (lneed_dst) {
            const double u = (2.0 * ox + 1.0) / low - 1.0;
            const double dgx = dLdX * 0.5 * lW, dgy = dLdY * 0.5 * lH;
            gD[0] += dgx * u;
            gD[1] += dgx * v;
            gD[2] += dgx;
            gD[3] += dgy * u;
            gD[4] += dgy * v;
            gD[5] += dgy;
          }
        }
        for (int i = 0; i < 6; ++i) {
          th[i] += gS[i];
          th[6 + i] += gD[i];
        }
      }
    }
  });

  // Reduce the chunk-local parts in chunk order (deterministic).
  for (const Chunk& ch : chunks) {
    if (ch.end <= ch.begin) continue;
    for (int64_t b = ch.b_first; b <= ch.b_last; ++b) {
      const double* th = &ch.theta[12 * (b - ch.b_first)];
      for (int i = 0; i < 6; ++i) {
        gsinv[6 * b + i] += th[i];
        gdst[6 * b + i] += th[6 + i];
      }
      if (!need_crop || owns(ch, b)) continue;
      const int slot = (b == ch.b_first) ? 0 : 1;
      if (need_fg && !ch.part_fg[slot].empty()) {
        scalar_t* d = gfg_p + b * C * cplane;
        const scalar_t* s = ch.part_fg[slot].data();
        for (int64_t i = 0; i < C * cplane; ++i) d[i] += s[i];
      }
      if (need_mask && !ch.part_m[slot].empty()) {
        scalar_t* d = gm_p + b * cplane;
        const scalar_t* s = ch.part_m[slot].data();
        for (int64_t i = 0; i < cplane; ++i) d[i] += s[i];
      }
    }
  }

  if (!need_bg) return;
  // Background pass: one writer per (background batch, channel) plane. The gradient is dense
  // (zero-filled once by the caller) but only the sampled pixels are touched here.
  scalar_t* const gbg_p = grad_bg.data_ptr<scalar_t>();
  const int64_t Bb = g.Bb;
  const int64_t fplane = H * W;
  at::parallel_for(0, Bb * C, 1, [=](int64_t pbegin, int64_t pend) {
    for (int64_t p = pbegin; p < pend; ++p) {
      const int64_t bb = p / C, c = p % C;
      scalar_t* dst = gbg_p + (bb * C + c) * fplane;
      const int64_t b0 = (Bb == B) ? bb : 0, b1 = (Bb == B) ? bb + 1 : B;
      for (int64_t b = b0; b < b1; ++b) {
        const scalar_t* gob = go_p + (b * C + c) * oplane;
        const int64_t pix0 = b * oplane;
        for (int64_t q = 0; q < oplane; ++q) {
          const int32_t x0 = bg_xy_p[2 * (pix0 + q)], y0 = bg_xy_p[2 * (pix0 + q) + 1];
          if (x0 == INT32_MIN) continue;
          const scalar_t gv = gob[q];
          const scalar_t* s = bg_s_p + 4 * (pix0 + q);
          for (int n = 0; n < 4; ++n) {
            const int64_t fx = x0 + (n & 1), fy = y0 + (n >> 1);
            if (fx < 0 || fx >= W || fy < 0 || fy >= H) continue;
            dst[fy * W + fx] += s[n] * gv;
          }
        }
      }
    }
  });
}

}  // namespace

bool composite_crop_set_tiled(bool enabled) { return g_tiled_enabled.exchange(enabled); }

at::Tensor composite_crop_cpu(const at::Tensor& fg, const at::Tensor& mask,
                              const at::Tensor& background, const at::Tensor& src_theta,
                              const at::Tensor& dst_theta, c10::IntArrayRef out_size) {
  check_composite_crop_args(fg, mask, background, src_theta, dst_theta, out_size, true);
  TORCH_CHECK(fg.device().is_cpu(), "composite_crop: the CPU kernel got tensors on ", fg.device());
  const int64_t oh = out_size[0], ow = out_size[1];
  const at::MemoryFormat format = fg.suggest_memory_format();
  if (fg.size(0) * fg.size(1) * oh * ow == 0)
    return at::empty({fg.size(0), fg.size(1), oh, ow}, fg.options().memory_format(format));
  const Geometry g = make_geometry(fg, background, src_theta, dst_theta, oh, ow);
  const separable::Problem problem = separable_problem(g, background);
  const Path path = choose_path(g, problem);
  // The separable path writes the output laid out like fg; the others write it planar, and it
  // is laid out like fg on return.
  at::Tensor out = at::empty({fg.size(0), fg.size(1), oh, ow},
                             fg.options().memory_format(kernel_format(path, format)));
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite_crop_cpu", [&] {
    auto run = [&](auto channels) {
      constexpr int kC = decltype(channels)::value;
      if (path == Path::kSeparable) {
        const separable::CropLayouts layouts{separable::strides_of(fg), separable::strides_of(mask),
                                             separable::strides_of(out), {}, {}};
        separable::forward<scalar_t, kC>(problem, layouts, fg.const_data_ptr<scalar_t>(),
                                         mask.const_data_ptr<scalar_t>(),
                                         background.const_data_ptr<scalar_t>(),
                                         out.data_ptr<scalar_t>());
      } else if (path == Path::kTiled) {
        const at::Tensor fgc = fg.contiguous(), maskc = mask.contiguous();
        tiled::forward<scalar_t, kC>(problem, fgc.const_data_ptr<scalar_t>(),
                                     maskc.const_data_ptr<scalar_t>(),
                                     background.const_data_ptr<scalar_t>(),
                                     out.data_ptr<scalar_t>());
      } else {
        forward_impl<scalar_t, kC>(g, fg, mask, background, out);
      }
    };
    if (g.C == 3)
      run(std::integral_constant<int, 3>{});
    else if (g.C == 1)
      run(std::integral_constant<int, 1>{});
    else
      run(std::integral_constant<int, 0>{});
  });
  return out.contiguous(format);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_crop_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& fg, const at::Tensor& mask,
    const at::Tensor& background, const at::Tensor& src_theta, const at::Tensor& dst_theta,
    std::array<bool, 5> output_mask) {
  TORCH_CHECK(grad_out.dim() == 4 && grad_out.size(0) == fg.size(0) &&
                  grad_out.size(1) == fg.size(1),
              "composite_crop_backward: grad_out must have shape (B, C, oh, ow) matching fg ",
              fg.sizes(), ", got ", grad_out.sizes());
  const int64_t oh = grad_out.size(2), ow = grad_out.size(3);
  check_composite_crop_args(fg, mask, background, src_theta, dst_theta, {oh, ow}, true);
  TORCH_CHECK(grad_out.scalar_type() == fg.scalar_type(), "composite_crop_backward: grad_out has dtype ",
              grad_out.scalar_type(), " but fg has dtype ", fg.scalar_type());
  const auto [need_fg, need_mask, need_bg, need_src, need_dst] =
      std::tuple<bool, bool, bool, bool, bool>(output_mask[0], output_mask[1], output_mask[2],
                                               output_mask[3], output_mask[4]);
  const auto opts = fg.options().memory_format(at::MemoryFormat::Contiguous);
  at::Tensor empty = at::empty({0}, opts);
  const int64_t B = fg.size(0);
  const Geometry g = make_geometry(fg, background, src_theta, dst_theta, oh, ow);
  const separable::Problem problem = separable_problem(g, background);
  const Path path = choose_path(g, problem);
  // The crop gradients are laid out like fg and mask (written so by the separable path, planar by
  // the others and laid out so on return). at::empty, then zero_: at::zeros ignores a memory
  // format in its options.
  const at::MemoryFormat fg_format = fg.suggest_memory_format(),
                         mask_format = mask.suggest_memory_format();
  auto crop_grad = [&](const at::Tensor& t, at::MemoryFormat format) {
    return at::empty(t.sizes(), opts.memory_format(kernel_format(path, format))).zero_();
  };
  at::Tensor grad_fg = need_fg ? crop_grad(fg, fg_format) : empty;
  at::Tensor grad_mask = need_mask ? crop_grad(mask, mask_format) : empty;
  at::Tensor grad_bg = need_bg ? at::zeros(background.sizes(), opts) : empty;
  std::vector<double> gsinv(6 * B, 0.0), gdst(6 * B, 0.0);
  if (B > 0 && (need_fg || need_mask || need_bg || need_src || need_dst)) {
    AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite_crop_backward_cpu", [&] {
      auto run = [&](auto channels) {
        constexpr int kC = decltype(channels)::value;
        scalar_t* const gfg = need_fg ? grad_fg.data_ptr<scalar_t>() : nullptr;
        scalar_t* const gm = need_mask ? grad_mask.data_ptr<scalar_t>() : nullptr;
        scalar_t* const gbg = need_bg ? grad_bg.data_ptr<scalar_t>() : nullptr;
        if (path == Path::kSeparable) {
          const separable::CropLayouts layouts{
              separable::strides_of(fg), separable::strides_of(mask),
              separable::strides_of(grad_out),
              need_fg ? separable::strides_of(grad_fg) : separable::CropStrides{},
              need_mask ? separable::strides_of(grad_mask) : separable::CropStrides{}};
          separable::backward<scalar_t, kC>(
              problem, layouts, grad_out.const_data_ptr<scalar_t>(),
              fg.const_data_ptr<scalar_t>(), mask.const_data_ptr<scalar_t>(),
              background.const_data_ptr<scalar_t>(), gfg, gm, gbg, need_src, need_dst,
              gsinv.data(), gdst.data());
        } else if (path == Path::kTiled) {
          const at::Tensor goc = grad_out.contiguous(), fgc = fg.contiguous(),
                           maskc = mask.contiguous();
          tiled::backward<scalar_t, kC>(problem, goc.const_data_ptr<scalar_t>(),
                                        fgc.const_data_ptr<scalar_t>(),
                                        maskc.const_data_ptr<scalar_t>(),
                                        background.const_data_ptr<scalar_t>(), gfg, gm, gbg,
                                        need_src, need_dst, gsinv.data(), gdst.data());
        } else {
          backward_impl<scalar_t, kC>(g, grad_out, fg, mask, background, need_fg, need_mask,
                                      need_bg, need_src, need_dst, grad_fg, grad_mask, grad_bg,
                                      gsinv, gdst);
        }
      };
      if (g.C == 3)
        run(std::integral_constant<int, 3>{});
      else if (g.C == 1)
        run(std::integral_constant<int, 1>{});
      else
        run(std::integral_constant<int, 0>{});
    });
    if (need_src) {
      // gsinv = dL/d inv(src_theta) -> dL/d src_theta. With src = [A | t], inv = [Ai | -Ai t]:
      //   dL/dt = -Ai^T G_t,  dL/dAi = G_A - G_t t^T,  dL/dA = -Ai^T (dL/dAi) Ai^T.
      for (int64_t b = 0; b < B; ++b) {
        const double* s = &g.src[6 * b];
        const double* si = &g.sinv[6 * b];
        double* G = &gsinv[6 * b];
        const double Ai[2][2] = {{si[0], si[1]}, {si[3], si[4]}};
        const double t[2] = {s[2], s[5]};
        const double Gt[2] = {G[2], G[5]};
        double dAi[2][2];
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) dAi[i][j] = G[3 * i + j] - Gt[i] * t[j];
        double tmp[2][2];  // Ai^T dAi
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) tmp[i][j] = Ai[0][i] * dAi[0][j] + Ai[1][i] * dAi[1][j];
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) G[3 * i + j] = -(tmp[i][0] * Ai[j][0] + tmp[i][1] * Ai[j][1]);
        G[2] = -(Ai[0][0] * Gt[0] + Ai[1][0] * Gt[1]);
        G[5] = -(Ai[0][1] * Gt[0] + Ai[1][1] * Gt[1]);
      }
    }
  }
  if (need_fg) grad_fg = grad_fg.contiguous(fg_format);
  if (need_mask) grad_mask = grad_mask.contiguous(mask_format);
  at::Tensor grad_src = empty, grad_dst = empty;
  const auto dopts = at::TensorOptions().dtype(at::kDouble);
  if (need_src)
    grad_src = at::from_blob(gsinv.data(), {B, 2, 3}, dopts).to(fg.scalar_type()).clone();
  if (need_dst)
    grad_dst = at::from_blob(gdst.data(), {B, 2, 3}, dopts).to(fg.scalar_type()).clone();
  return {grad_fg, grad_mask, grad_bg, grad_src, grad_dst};
}

}  // namespace dprobe

TORCH_LIBRARY_IMPL(dprobe, CPU, m) {
  m.impl("composite_crop", &dprobe::composite_crop_cpu);
  m.impl("composite_crop_backward", &dprobe::composite_crop_backward_cpu);
}
