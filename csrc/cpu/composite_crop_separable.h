// Axis-aligned fast path of the dprobe::composite_crop CPU kernels (kernel-internal header,
// included by composite_crop_kernel.cpp only).
//
// When neither theta rotates nor shears (the boxes of dprobe.geometry.box_to_theta: the common
// case), every sampling step is separable:
//   output column ox -> frame column X(ox) -> its two frame taps fx -> crop column x(fx),
//   output row    oy -> frame row    Y(oy) -> its two frame taps fy -> crop row    y(fy).
// Per batch item, the output touches at most 2 ow distinct frame columns and 2 oh distinct frame
// rows (fewer when the box is smaller than the output), independent of the frame size. The
// composite M F + (1 - M) background is computed once on that grid of touched frame pixels
// (each crop row interpolated vertically once over the crop width, then the two crop taps of
// every touched column), and the output is a bilinear read of the grid with per-row and
// per-column weights. The backward runs the same steps in reverse: output gradient -> grid
// gradient (4 scatter-adds per output pixel), grid gradient -> crop row gradient (2 taps per
// touched column) -> fg / mask gradient (2 crop rows, vectorised over the crop width).
//
// Tables hold, per axis, the weights of the valid taps and zero for taps outside the frame /
// crop (zeros padding); the derivative of a tap weight by its coordinate is -1 / +1 for a valid
// tap and 0 otherwise, so "valid" is read from the derivative (a valid tap can weigh exactly 0).
// Frame taps just outside the frame (-1 and N) appear in the touched lists as virtual entries
// whose composite is 0 and which carry no gradient.
//
// Layouts: fg, mask, the output and the crop gradients are read and written through their
// strides (CropLayouts), so channels-last crops, or channel slices of one channels-last tensor,
// need no copy; the caller lays the output and the crop gradients out like fg and mask.
//
// Parallelism: one task per batch item (its crop gradients and theta gradients have one writer);
// the background gradient, shared by all items when the background has batch 1, is added in a
// second pass with one writer per (background batch, channel) plane, items in batch order.
// Results do not depend on the number of threads.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace dprobe {
namespace separable {

// floor() for x >= -1 (callers range-check first).
inline int64_t floor_from_m1(double x) { return static_cast<int64_t>(x + 1.0) - 1; }

// One axis of one batch item: output index o -> frame coordinate F = f0 + f1 o (pixel units),
// frame pixel f -> crop coordinate c0 + c1 f (pixel units).
template <typename T>
struct Axis {
  // per output index
  std::vector<int32_t> first;  // index in `touched` of the first frame tap (the second is +1)
  std::vector<T> w0, w1;       // frame tap weights (0 outside the frame)
  std::vector<T> d0, d1;       // d weight / d F: -1 / +1 for a tap inside the frame, else 0
  // per touched frame index (sorted, distinct, within [-1, N])
  std::vector<int32_t> touched;
  int32_t lo = 0, hi = 0;       // touched[lo, hi) are inside the frame, the rest virtual
  std::vector<int32_t> ca, cb;  // crop taps, clamped into the crop
  std::vector<T> a0, a1;        // crop tap weights (0 outside the crop)
  std::vector<T> e0, e1;        // d weight / d crop coordinate (-1 / +1 inside, else 0)
  std::vector<double> norm;     // normalised frame coordinate of the pixel centre, (2f+1)/N - 1

  void build(int64_t n_out, double f0, double f1, int64_t N, double c0, double c1, int64_t n) {
    first.resize(n_out);
    w0.resize(n_out);
    w1.resize(n_out);
    d0.resize(n_out);
    d1.resize(n_out);
    touched.clear();
    std::vector<int32_t> x0s(n_out);
    for (int64_t o = 0; o < n_out; ++o) {
      const double X = f0 + f1 * static_cast<double>(o);
      int64_t x0;
      if (X >= -1.0 && X <= static_cast<double>(N)) {
        x0 = floor_from_m1(X);
        const double t = X - static_cast<double>(x0);
        const bool ok0 = x0 >= 0, ok1 = x0 + 1 < N;
        w0[o] = ok0 ? static_cast<T>(1.0 - t) : T(0);
        w1[o] = ok1 ? static_cast<T>(t) : T(0);
        d0[o] = ok0 ? T(-1) : T(0);
        d1[o] = ok1 ? T(1) : T(0);
      } else {  // no tap inside the frame: park the taps on the border (weights 0)
        x0 = X < -1.0 ? -1 : N - 1;
        w0[o] = w1[o] = d0[o] = d1[o] = T(0);
      }
      x0s[o] = static_cast<int32_t>(x0);
      touched.push_back(static_cast<int32_t>(x0));
      touched.push_back(static_cast<int32_t>(x0 + 1));
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (int64_t o = 0; o < n_out; ++o)
      first[o] = static_cast<int32_t>(
          std::lower_bound(touched.begin(), touched.end(), x0s[o]) - touched.begin());
    const int64_t nt = static_cast<int64_t>(touched.size());
    lo = 0;
    hi = static_cast<int32_t>(nt);
    while (lo < hi && touched[lo] < 0) ++lo;
    while (hi > lo && touched[hi - 1] >= N) --hi;
    ca.assign(nt, 0);
    cb.assign(nt, 0);
    a0.assign(nt, T(0));
    a1.assign(nt, T(0));
    e0.assign(nt, T(0));
    e1.assign(nt, T(0));
    norm.assign(nt, 0.0);
    for (int64_t k = lo; k < hi; ++k) {
      const double f = static_cast<double>(touched[k]);
      norm[k] = (2.0 * f + 1.0) / static_cast<double>(N) - 1.0;
      const double x = c0 + c1 * f;
      if (!(x >= -1.0 && x <= static_cast<double>(n))) continue;
      const int64_t c = floor_from_m1(x);
      const double t = x - static_cast<double>(c);
      const bool ok0 = c >= 0, ok1 = c + 1 < n;
      ca[k] = static_cast<int32_t>(std::clamp<int64_t>(c, 0, n - 1));
      cb[k] = static_cast<int32_t>(std::clamp<int64_t>(c + 1, 0, n - 1));
      a0[k] = ok0 ? static_cast<T>(1.0 - t) : T(0);
      a1[k] = ok1 ? static_cast<T>(t) : T(0);
      e0[k] = ok0 ? T(-1) : T(0);
      e1[k] = ok1 ? T(1) : T(0);
    }
  }
  int64_t size() const { return static_cast<int64_t>(touched.size()); }
  bool hits_crop(int64_t k) const { return e0[k] != T(0) || e1[k] != T(0); }
};

// Sizes and strides shared by the kernels. pix: per batch item the 12 pixel-unit coefficients of
// composite_crop_kernel.cpp's Geometry (fX[3], fY[3], cX[3], cY[3]); here fX[2], fY[1], cX[2],
// cY[1] are zero.
struct Problem {
  int64_t B, C, h, w, H, W, oh, ow, Bb;
  int64_t bsb, bsc, bsy, bsx;  // background strides (bsb = 0 for a batch-1 background)
  const double* pix;
};

template <typename T>
void build_axes(const Problem& p, int64_t b, Axis<T>& ax, Axis<T>& ay) {
  const double* P = p.pix + 12 * b;
  ax.build(p.ow, P[0], P[1], p.W, P[6], P[7], p.w);
  ay.build(p.oh, P[3], P[5], p.H, P[9], P[11], p.h);
}

// Element strides of a crop-sized tensor (B, C, rows, columns): the crops, the mask, the output
// and their gradients are read and written through these, so a channels-last crop (a decoder's
// output, or a channel slice of it) needs no copy. Planar (contiguous) is {C h w, h w, w, 1}.
struct CropStrides {
  int64_t b, c, y, x;
};

inline CropStrides strides_of(const at::Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

// The strides of the tensors each kernel reads and writes besides the background (whose strides
// are in Problem): fg and mask; out is the output (forward) or the output's gradient (backward);
// gfg, gm the crop gradients (backward).
struct CropLayouts {
  CropStrides fg, mask, out, gfg, gm;
};

// v[x] = a0 r0[x stride] + a1 r1[x stride] over one row (vectorised where stride is 1).
template <typename T>
inline void lerp_rows(T* __restrict v, const T* __restrict r0, const T* __restrict r1, T a0, T a1,
                      int64_t n, int64_t stride = 1) {
  if (stride == 1) {
#pragma omp simd
    for (int64_t x = 0; x < n; ++x) v[x] = a0 * r0[x] + a1 * r1[x];
  } else {
    for (int64_t x = 0; x < n; ++x) v[x] = a0 * r0[x * stride] + a1 * r1[x * stride];
  }
}

// d[x stride] += a s[x] over one row (vectorised where stride is 1).
template <typename T>
inline void add_row(T* __restrict d, const T* __restrict s, T a, int64_t n, int64_t stride) {
  if (stride == 1) {
#pragma omp simd
    for (int64_t x = 0; x < n; ++x) d[x] += a * s[x];
  } else {
    for (int64_t x = 0; x < n; ++x) d[x * stride] += a * s[x];
  }
}

// The composite on the grid of touched frame pixels: G[(i * C + c) * nu + j], zero on virtual
// entries. vbuf: (C + 1) x w scratch.
template <typename T, int kC>
void composite_grid(const Problem& p, const CropLayouts& L, int64_t b, const T* fg,
                    const T* mask, const T* bg, const Axis<T>& ax, const Axis<T>& ay, T* G,
                    T* vbuf) {
  const int64_t C = kC > 0 ? kC : p.C, w = p.w;
  const int64_t nu = ax.size(), nr = ay.size();
  const T* fgb = fg + b * L.fg.b;
  const T* mb = mask + b * L.mask.b;
  const T* bgb = bg + b * p.bsb;
  std::fill(G, G + nr * C * nu, T(0));
  T* vM = vbuf + C * w;
  for (int64_t i = ay.lo; i < ay.hi; ++i) {
    const int64_t fy = ay.touched[i];
    T* Gi = G + i * C * nu;
    if (!ay.hits_crop(i)) {  // the crop does not reach this frame row: background only
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = ax.lo; j < ax.hi; ++j)
          Gi[c * nu + j] = bgb[c * p.bsc + fy * p.bsy + ax.touched[j] * p.bsx];
      continue;
    }
    const int64_t r0 = ay.ca[i] * L.fg.y, r1 = ay.cb[i] * L.fg.y;
    for (int64_t c = 0; c < C; ++c)
      lerp_rows(vbuf + c * w, fgb + c * L.fg.c + r0, fgb + c * L.fg.c + r1, ay.a0[i], ay.a1[i], w,
                L.fg.x);
    lerp_rows(vM, mb + ay.ca[i] * L.mask.y, mb + ay.cb[i] * L.mask.y, ay.a0[i], ay.a1[i], w,
              L.mask.x);
    const T* bgr = bgb + fy * p.bsy;
    for (int64_t j = ax.lo; j < ax.hi; ++j) {
      const int64_t xa = ax.ca[j], xb = ax.cb[j];
      const T a0 = ax.a0[j], a1 = ax.a1[j];
      const T M = a0 * vM[xa] + a1 * vM[xb];
      const T* bgp = bgr + ax.touched[j] * p.bsx;
      for (int64_t c = 0; c < C; ++c) {
        const T* v = vbuf + c * w;
        Gi[c * nu + j] = M * (a0 * v[xa] + a1 * v[xb]) + (T(1) - M) * bgp[c * p.bsc];
      }
    }
  }
}

template <typename T, int kC>
void forward(const Problem& p, const CropLayouts& L, const T* fg, const T* mask, const T* bg,
             T* out) {
  at::parallel_for(0, p.B, 1, [&](int64_t bbegin, int64_t bend) {
    const int64_t C = kC > 0 ? kC : p.C, ow = p.ow;
    const CropStrides so = L.out;
    Axis<T> ax, ay;
    std::vector<T> G, Hrow, vbuf((C + 1) * p.w);
    for (int64_t b = bbegin; b < bend; ++b) {
      build_axes(p, b, ax, ay);
      const int64_t nu = ax.size();
      G.resize(ay.size() * C * nu);
      composite_grid<T, kC>(p, L, b, fg, mask, bg, ax, ay, G.data(), vbuf.data());
      T* outb = out + b * so.b;
      Hrow.resize(C * nu);
      for (int64_t oy = 0; oy < p.oh; ++oy) {
        const int64_t i = ay.first[oy];
        // The two frame rows interpolated vertically, then horizontally at every output column.
        lerp_rows(Hrow.data(), G.data() + i * C * nu, G.data() + (i + 1) * C * nu, ay.w0[oy],
                  ay.w1[oy], C * nu);
        for (int64_t c = 0; c < C; ++c) {
          const T* hr = Hrow.data() + c * nu;
          T* o = outb + c * so.c + oy * so.y;
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t j = ax.first[ox];
            o[ox * so.x] = ax.w0[ox] * hr[j] + ax.w1[ox] * hr[j + 1];
          }
        }
      }
    }
  });
}

// Per batch item, kept for the background pass: the touched frame rows / columns and the
// gradient of the background on that grid, (1 - M) dL/dcomposite.
template <typename T>
struct BackgroundPart {
  std::vector<int32_t> rows, cols;
  int32_t rlo = 0, rhi = 0, clo = 0, chi = 0;
  std::vector<T> grad;  // rows.size() x C x cols.size()
};

template <typename T, int kC>
void backward(const Problem& p, const CropLayouts& L, const T* go, const T* fg, const T* mask,
              const T* bg,
              T* gfg,   // nullptr unless requested
              T* gm,    // nullptr unless requested
              T* gbg,   // nullptr unless requested
              bool need_src, bool need_dst, double* gsinv, double* gdst) {
  const bool need_bg = gbg != nullptr;
  const bool need_crop_pass = gfg || gm || need_src || need_bg;
  std::vector<BackgroundPart<T>> parts(need_bg ? p.B : 0);
  at::parallel_for(0, p.B, 1, [&](int64_t bbegin, int64_t bend) {
    const int64_t C = kC > 0 ? kC : p.C, w = p.w, h = p.h, ow = p.ow, oh = p.oh;
    Axis<T> ax, ay;
    std::vector<T> G, gG, Hrow, Vrow, srow, vbuf(2 * (C + 1) * w), gv((C + 1) * w);
    for (int64_t b = bbegin; b < bend; ++b) {
      build_axes(p, b, ax, ay);
      const int64_t nu = ax.size(), nr = ay.size();
      if (need_dst) {
        G.resize(nr * C * nu);
        composite_grid<T, kC>(p, L, b, fg, mask, bg, ax, ay, G.data(), vbuf.data());
      }
      gG.assign(nr * C * nu, T(0));
      Hrow.resize(C * nu);
      Vrow.resize(C * nu);
      srow.resize(C * nu);
      // Output -> grid: scatter the output gradient onto the touched frame pixels; the dst_theta
      // gradient from d out / d (X, Y) (the frame weights' derivatives).
      const T* gob = go + b * L.out.b;
      double gD[6] = {0, 0, 0, 0, 0, 0};
      const double W = static_cast<double>(p.W), H = static_cast<double>(p.H);
      for (int64_t oy = 0; oy < oh; ++oy) {
        const int64_t i = ay.first[oy];
        const T wy0 = ay.w0[oy], wy1 = ay.w1[oy];
        if (need_dst) {  // the two frame rows interpolated vertically, and their Y derivative
          const T* G0 = G.data() + i * C * nu;
          lerp_rows(Hrow.data(), G0, G0 + C * nu, wy0, wy1, C * nu);
          lerp_rows(Vrow.data(), G0, G0 + C * nu, ay.d0[oy], ay.d1[oy], C * nu);
        }
        std::fill(srow.begin(), srow.end(), T(0));
        const T* g = gob + oy * L.out.y;
        const T* hr = Hrow.data();
        const T* vr = Vrow.data();
        T* sr = srow.data();
        double rX = 0, rXu = 0, rY = 0, rYu = 0;  // row sums of dL/dX, dL/dX u, ...
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t j = ax.first[ox];
          const T w0 = ax.w0[ox], w1 = ax.w1[ox], d0 = ax.d0[ox], d1 = ax.d1[ox];
          T dX = 0, dY = 0;
          for (int64_t c = 0; c < C; ++c) {
            const T gc = g[c * L.out.c + ox * L.out.x];
            const int64_t k = c * nu + j;
            sr[k] += w0 * gc;
            sr[k + 1] += w1 * gc;
            if (need_dst) {
              dX += gc * (d0 * hr[k] + d1 * hr[k + 1]);
              dY += gc * (w0 * vr[k] + w1 * vr[k + 1]);
            }
          }
          if (need_dst) {
            const double u = (2.0 * static_cast<double>(ox) + 1.0) / static_cast<double>(ow) - 1.0;
            rX += static_cast<double>(dX);
            rXu += static_cast<double>(dX) * u;
            rY += static_cast<double>(dY);
            rYu += static_cast<double>(dY) * u;
          }
        }
        // The row's gradient goes to its two frame rows.
        T* s0 = gG.data() + i * C * nu;
        add_row(s0, sr, wy0, C * nu, 1);
        add_row(s0 + C * nu, sr, wy1, C * nu, 1);
        if (need_dst) {
          const double v = (2.0 * static_cast<double>(oy) + 1.0) / static_cast<double>(oh) - 1.0;
          gD[0] += rXu * 0.5 * W;
          gD[1] += rX * 0.5 * W * v;
          gD[2] += rX * 0.5 * W;
          gD[3] += rYu * 0.5 * H;
          gD[4] += rY * 0.5 * H * v;
          gD[5] += rY * 0.5 * H;
        }
      }
      for (int k = 0; k < 6; ++k) gdst[6 * b + k] = gD[k];
      if (!need_crop_pass) continue;

      // Grid -> crop: per touched frame row, the two crop rows it interpolates.
      BackgroundPart<T>* part = need_bg ? &parts[b] : nullptr;
      if (part) {
        part->rows = ay.touched;
        part->cols = ax.touched;
        part->rlo = ay.lo;
        part->rhi = ay.hi;
        part->clo = ax.lo;
        part->chi = ax.hi;
        part->grad.assign(nr * C * nu, T(0));
      }
      const T* fgb = fg + b * L.fg.b;
      const T* mb = mask + b * L.mask.b;
      const T* bgb = bg + b * p.bsb;
      T* gfgb = gfg ? gfg + b * L.gfg.b : nullptr;
      T* gmb = gm ? gm + b * L.gm.b : nullptr;
      double gS[6] = {0, 0, 0, 0, 0, 0};
      T* vF = vbuf.data();            // C x w, then the mask row
      T* dF = vbuf.data() + (C + 1) * w;  // their derivatives along the crop rows
      T* vM = vF + C * w;
      T* dM = dF + C * w;
      for (int64_t i = ay.lo; i < ay.hi; ++i) {
        const T* gGi = gG.data() + i * C * nu;
        if (!ay.hits_crop(i)) {  // background only: composite = background
          if (part)
            std::copy(gGi, gGi + C * nu, part->grad.data() + i * C * nu);
          continue;
        }
        const int64_t fy = ay.touched[i];
        const int64_t ya = ay.ca[i], yb = ay.cb[i];  // the two crop rows
        const T ya0 = ay.a0[i], ya1 = ay.a1[i], ye0 = ay.e0[i], ye1 = ay.e1[i];
        std::fill(gv.begin(), gv.end(), T(0));
        T* gvM = gv.data() + C * w;
        const T* bgr = bgb + fy * p.bsy;
        T* pg = part ? part->grad.data() + i * C * nu : nullptr;
        // The row pass, compiled once per combination of the gradients it must produce: kSrc
        // (the src_theta gradient: the crop coordinates' derivatives) and kMask (the mask's
        // gradient, also needed by kSrc); the attack asks for the fg gradient only.
        auto row_pass = [&](auto src_tag, auto mask_tag) {
          constexpr bool kSrc = decltype(src_tag)::value;
          constexpr bool kMask = decltype(mask_tag)::value || kSrc;
          for (int64_t c = 0; c <= C; ++c) {  // c == C: the mask
            const CropStrides& st = c < C ? L.fg : L.mask;
            const T* src = c < C ? fgb + c * st.c : mb;
            const T *s0 = src + ya * st.y, *s1 = src + yb * st.y;
            lerp_rows(vF + c * w, s0, s1, ya0, ya1, w, st.x);
            if (kSrc) lerp_rows(dF + c * w, s0, s1, ye0, ye1, w, st.x);
          }
          double sx = 0, sxp = 0, sy = 0, syp = 0;  // row sums of dL/dcx, dL/dcx px, ...
          for (int64_t j = ax.lo; j < ax.hi; ++j) {
            const int64_t xa = ax.ca[j], xb = ax.cb[j];
            const T a0 = ax.a0[j], a1 = ax.a1[j];
            const T M = a0 * vM[xa] + a1 * vM[xb];
            const T* bgp = bgr + ax.touched[j] * p.bsx;
            T dLdM = 0, dLdx = 0, dLdy = 0;
            for (int64_t c = 0; c < C; ++c) {
              const T* v = vF + c * w;
              const T gc = gGi[c * nu + j];
              const T dLdF = gc * M;
              if (kMask) dLdM += gc * (a0 * v[xa] + a1 * v[xb] - bgp[c * p.bsc]);
              if (kSrc) {
                const T* d = dF + c * w;
                dLdx += dLdF * (ax.e0[j] * v[xa] + ax.e1[j] * v[xb]);
                dLdy += dLdF * (a0 * d[xa] + a1 * d[xb]);
              }
              gv[c * w + xa] += a0 * dLdF;
              gv[c * w + xb] += a1 * dLdF;
              if (pg) pg[c * nu + j] = gc * (T(1) - M);
            }
            if (kMask) {
              gvM[xa] += a0 * dLdM;
              gvM[xb] += a1 * dLdM;
            }
            if (kSrc) {
              dLdx += dLdM * (ax.e0[j] * vM[xa] + ax.e1[j] * vM[xb]);
              dLdy += dLdM * (a0 * dM[xa] + a1 * dM[xb]);
              const double px = ax.norm[j];
              sx += static_cast<double>(dLdx);
              sxp += static_cast<double>(dLdx) * px;
              sy += static_cast<double>(dLdy);
              syp += static_cast<double>(dLdy) * px;
            }
          }
          if (kSrc) {
            const double py = ay.norm[i], hw = 0.5 * static_cast<double>(w),
                         hh = 0.5 * static_cast<double>(h);
            gS[0] += sxp * hw;
            gS[1] += sx * hw * py;
            gS[2] += sx * hw;
            gS[3] += syp * hh;
            gS[4] += sy * hh * py;
            gS[5] += sy * hh;
          }
        };
        if (need_src)
          row_pass(std::true_type{}, std::true_type{});
        else if (gmb)
          row_pass(std::false_type{}, std::true_type{});
        else
          row_pass(std::false_type{}, std::false_type{});
        // The crop-row gradient goes to the two crop rows (weights of invalid taps are 0).
        if (gfgb) {
          const CropStrides& st = L.gfg;
          for (int64_t c = 0; c < C; ++c) {
            add_row(gfgb + c * st.c + ya * st.y, gv.data() + c * w, ya0, w, st.x);
            add_row(gfgb + c * st.c + yb * st.y, gv.data() + c * w, ya1, w, st.x);
          }
        }
        if (gmb) {
          add_row(gmb + ya * L.gm.y, gvM, ya0, w, L.gm.x);
          add_row(gmb + yb * L.gm.y, gvM, ya1, w, L.gm.x);
        }
      }
      for (int k = 0; k < 6; ++k) gsinv[6 * b + k] = gS[k];
    }
  });

  if (!need_bg) return;
  // Background pass: one writer per (background batch, channel) plane, items in batch order.
  const int64_t C = p.C, Bb = p.Bb, B = p.B, fplane = p.H * p.W, W = p.W;
  at::parallel_for(0, Bb * C, 1, [&](int64_t pbegin, int64_t pend) {
    for (int64_t q = pbegin; q < pend; ++q) {
      const int64_t bb = q / C, c = q % C;
      T* dst = gbg + (bb * C + c) * fplane;
      const int64_t b0 = (Bb == B) ? bb : 0, b1 = (Bb == B) ? bb + 1 : B;
      for (int64_t b = b0; b < b1; ++b) {
        const BackgroundPart<T>& part = parts[b];
        const int64_t nu = static_cast<int64_t>(part.cols.size());
        for (int64_t i = part.rlo; i < part.rhi; ++i) {
          T* drow = dst + static_cast<int64_t>(part.rows[i]) * W;
          const T* s = part.grad.data() + (i * C + c) * nu;
          for (int64_t j = part.clo; j < part.chi; ++j) drow[part.cols[j]] += s[j];
        }
      }
    }
  });
}

}  // namespace separable
}  // namespace dprobe
