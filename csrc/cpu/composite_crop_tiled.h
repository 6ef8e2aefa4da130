// General-affine fast path of the dprobe::composite_crop CPU kernels (kernel-internal header,
// included by composite_crop_kernel.cpp only).
//
// For rotated / sheared thetas the sampling steps are not separable, but the sharing that makes
// the separable path fast still holds: neighbouring output pixels tap mostly the same frame
// pixels. The general kernel composites each of the 4 frame taps of every output pixel on its own
// (16 crop taps per output pixel, each frame pixel up to ~4 times); here, per batch item,
//   1. plan:      the frame taps of every output pixel are collected into a tile, a list of runs
//                 of frame pixels (one run per touched frame row, from its leftmost to its
//                 rightmost tap), and every output pixel keeps the tile entries of its taps and
//                 its frame weights;
//   2. composite: M F + (1 - M) background is computed once per tile entry (F and M bilinear at
//                 the crop point inv(src_theta) of the frame pixel centre, zeros outside the crop);
//   3. sample:    the output is the bilinear read of the tile at its 4 taps.
// The backward runs it in reverse: the output gradient is scattered into a tile gradient; one pass
// over the tile sends every entry's gradient to fg / mask (4 crop taps), src_theta and the
// background, and stores the entry's composite; the dst_theta gradient then follows from the
// composite at every output pixel's taps and the frame weights' derivatives.
//
// Runs span the touched pixels of a frame row, so they are exact while the output's taps cover
// the target box densely (up- and mild downsampling: ~1-2 tile entries per output pixel where the
// general kernel composites 4). When the target box covers many more frame pixels than the output
// taps (downsampling by 2 or more: the rows' spans would hold mostly untouched pixels), the item's
// tile instead holds the 4 taps of every output pixel on their own (2 runs of 2 per output pixel,
// the general kernel's work); whichever tile is smaller is used, so a tile never exceeds 4 entries
// per output pixel and nothing frame-sized is touched.
//
// Layout: the crop is interleaved per pixel as (F_0 .. F_{C-1}, M, 0 ..), L = 4 ceil((C + 1) / 4)
// values, and so are the tile's composite and the tile / crop gradients, so every tap reads or
// updates L / 4 vectors of 4 values (GCC / Clang vector extensions) instead of C + 1 scalars.
//
// Frame taps just outside the frame (column -1 or W, row -1 or H) are virtual tile entries: their
// composite is 0 (they carry weight 0 in the reference) and their gradient is dropped. Every
// formula, and the floating-point expressions of the coordinates, are those of the general kernel
// (composite_crop_kernel.cpp); only the order of some sums differs, so the results equal it to
// float rounding.
//
// Parallelism: one task per batch item (its crop and theta gradients have one writer); the
// background gradient, shared by all items when the background has batch 1, is added in a second
// pass with one writer per (background batch, channel) plane, items in batch order. Results do
// not depend on the number of threads.
#pragma once

#include "cpu/composite_crop_separable.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

// Vectors of 4 doubles are passed between inlined helpers only; the ABI note does not apply.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace dprobe {
namespace tiled {

using separable::floor_from_m1;
using separable::Problem;  // sizes, strides and the per-item pixel-unit maps (pix)

// True when the tile's 32-bit indices cannot overflow (at most 4 entries per output pixel,
// frame coordinates within int32); otherwise the general kernel runs.
inline bool applies(const Problem& p) {
  return 4 * p.oh * p.ow < (int64_t{1} << 30) && p.H < (int64_t{1} << 30) &&
         p.W < (int64_t{1} << 30);
}

// Frame pixels (fy, x_begin .. x_end - 1) are the tile entries start, start + 1, ...
struct Run {
  int32_t fy, x_begin, x_end, start;
};

// The tile of one batch item.
template <typename T>
struct Tile {
  // Per output pixel q:
  std::vector<int32_t> i0;  // entry of its frame tap (y0, x0), -1 if it has no tap inside the
                            // frame (output 0); the tap (y0, x0 + 1) is entry i0 + 1
  std::vector<int32_t> i1;  // entry of its frame tap (y0 + 1, x0); (y0 + 1, x0 + 1) is i1 + 1
  std::vector<T> w;         // 4 q + (0..3): frame weights 1 - tx, tx, 1 - ty, ty (make_taps')
  std::vector<Run> runs;
  int64_t size = 0;                   // number of entries
  std::vector<int32_t> xlo, xhi, rs;  // scratch of plan(): per frame row span and first entry
};

// Step 1: the tile of batch item b.
template <typename T>
void plan(const Problem& p, int64_t b, Tile<T>& t) {
  const double* P = p.pix + 12 * b;
  const int64_t oh = p.oh, ow = p.ow, H = p.H, W = p.W;
  t.i0.resize(oh * ow);
  t.i1.resize(oh * ow);
  t.w.resize(4 * oh * ow);
  t.runs.clear();
  t.size = 0;
  // Top-left frame tap (x0, y0) of every output pixel with a tap inside the frame (make_taps'
  // rule: the point lies in [-1, W] x [-1, H] and x0 <= W - 1, y0 <= H - 1), kept in i0 / i1.
  // The frame point is the general kernel's expression X = (fX0 + fX2 oy) + fX1 ox, Y likewise.
  int64_t ymin = INT64_MAX, ymax = INT64_MIN, nvalid = 0;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const double Xr = P[0] + P[2] * oy, Yr = P[3] + P[5] * oy;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const int64_t q = oy * ow + ox;
      const double X = Xr + P[1] * ox, Y = Yr + P[4] * ox;
      t.i0[q] = INT32_MIN;
      if (!(X >= -1.0 && X <= static_cast<double>(W) && Y >= -1.0 &&
            Y <= static_cast<double>(H)))
        continue;
      const int64_t x0 = floor_from_m1(X), y0 = floor_from_m1(Y);
      if (x0 > W - 1 || y0 > H - 1) continue;
      const double tx = X - static_cast<double>(x0), ty = Y - static_cast<double>(y0);
      T* wq = &t.w[4 * q];
      wq[0] = static_cast<T>(1.0 - tx);
      wq[1] = static_cast<T>(tx);
      wq[2] = static_cast<T>(1.0 - ty);
      wq[3] = static_cast<T>(ty);
      t.i0[q] = static_cast<int32_t>(x0);
      t.i1[q] = static_cast<int32_t>(y0);
      ymin = std::min(ymin, y0);
      ymax = std::max(ymax, y0);
      ++nvalid;
    }
  }
  if (nvalid == 0) {
    std::fill(t.i0.begin(), t.i0.end(), -1);
    return;
  }
  // Span [xlo, xhi] of the taps in every frame row ymin .. ymax + 1.
  const int64_t R = ymax - ymin + 2;
  t.xlo.assign(R, INT32_MAX);
  t.xhi.assign(R, INT32_MIN);
  t.rs.assign(R, 0);
  for (int64_t q = 0; q < oh * ow; ++q) {
    if (t.i0[q] == INT32_MIN) continue;
    const int32_t x0 = t.i0[q];
    const int64_t r = t.i1[q] - ymin;
    for (int64_t k = r; k <= r + 1; ++k) {
      t.xlo[k] = std::min(t.xlo[k], x0);
      t.xhi[k] = std::max(t.xhi[k], x0 + 1);
    }
  }
  int64_t span_size = 0;
  for (int64_t r = 0; r < R; ++r)
    if (t.xlo[r] <= t.xhi[r]) span_size += t.xhi[r] - t.xlo[r] + 1;

  if (span_size <= 4 * nvalid) {  // dense: one run per touched frame row
    for (int64_t r = 0; r < R; ++r) {
      if (t.xlo[r] > t.xhi[r]) continue;
      t.rs[r] = static_cast<int32_t>(t.size);
      t.runs.push_back({static_cast<int32_t>(ymin + r), t.xlo[r], t.xhi[r] + 1,
                        static_cast<int32_t>(t.size)});
      t.size += t.xhi[r] - t.xlo[r] + 1;
    }
    for (int64_t q = 0; q < oh * ow; ++q) {
      if (t.i0[q] == INT32_MIN) {
        t.i0[q] = -1;
        continue;
      }
      const int32_t x0 = t.i0[q];
      const int64_t r = t.i1[q] - ymin;
      t.i0[q] = t.rs[r] + (x0 - t.xlo[r]);
      t.i1[q] = t.rs[r + 1] + (x0 - t.xlo[r + 1]);
    }
  } else {  // sparse: the 2 x 2 taps of every output pixel on their own
    t.runs.reserve(2 * nvalid);
    for (int64_t q = 0; q < oh * ow; ++q) {
      if (t.i0[q] == INT32_MIN) {
        t.i0[q] = -1;
        continue;
      }
      const int32_t x0 = t.i0[q], y0 = t.i1[q], s = static_cast<int32_t>(t.size);
      t.runs.push_back({y0, x0, x0 + 2, s});
      t.runs.push_back({y0 + 1, x0, x0 + 2, s + 2});
      t.i0[q] = s;
      t.i1[q] = s + 2;
      t.size += 4;
    }
  }
}

// Bilinear taps of a crop point (x, y) (pixel units) in an (h, w) crop, as make_taps of the
// general kernel but keeping only the valid taps: n taps with crop offsets o, weights a and
// (kGrad) the weights' derivatives by x and y.
template <typename T, bool kGrad>
struct CropTaps {
  int n;
  int64_t o[4];
  T a[4], ax[4], ay[4];
};

template <typename T, bool kGrad>
inline void crop_taps(double x, double y, int64_t h, int64_t w, CropTaps<T, kGrad>& t) {
  t.n = 0;
  if (!(x >= -1.0 && x <= static_cast<double>(w) && y >= -1.0 && y <= static_cast<double>(h)))
    return;
  const int64_t x0 = floor_from_m1(x), y0 = floor_from_m1(y);
  const double tx = x - static_cast<double>(x0), ty = y - static_cast<double>(y0);
  const T wx[2] = {static_cast<T>(1.0 - tx), static_cast<T>(tx)};
  const T wy[2] = {static_cast<T>(1.0 - ty), static_cast<T>(ty)};
  if (x0 >= 0 && x0 + 1 < w && y0 >= 0 && y0 + 1 < h) {  // interior: all four taps valid
    const int64_t o = y0 * w + x0;
    t.n = 4;
    t.o[0] = o;
    t.o[1] = o + 1;
    t.o[2] = o + w;
    t.o[3] = o + w + 1;
    t.a[0] = wx[0] * wy[0];
    t.a[1] = wx[1] * wy[0];
    t.a[2] = wx[0] * wy[1];
    t.a[3] = wx[1] * wy[1];
    if (kGrad) {
      t.ax[0] = -wy[0];
      t.ax[1] = wy[0];
      t.ax[2] = -wy[1];
      t.ax[3] = wy[1];
      t.ay[0] = -wx[0];
      t.ay[1] = -wx[1];
      t.ay[2] = wx[0];
      t.ay[3] = wx[1];
    }
    return;
  }
  for (int k = 0; k < 4; ++k) {  // (y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)
    const int kx = k & 1, ky = k >> 1;
    const int64_t cx = x0 + kx, cy = y0 + ky;
    if (!(cx >= 0 && cx < w && cy >= 0 && cy < h)) continue;
    t.o[t.n] = cy * w + cx;
    t.a[t.n] = wx[kx] * wy[ky];
    if (kGrad) {
      t.ax[t.n] = kx ? wy[ky] : -wy[ky];
      t.ay[t.n] = ky ? wx[kx] : -wx[kx];
    }
    ++t.n;
  }
}

// Crop coordinates (pixel units) of the centre of frame pixel (fx, fy): the general kernel's
// expression.
struct CropPoint {
  double x, y;
};
inline CropPoint crop_point(const double* P, int64_t fx, int64_t fy) {
  return {P[6] + P[7] * fx + P[8] * fy, P[9] + P[10] * fx + P[11] * fy};
}

// The in-frame part [xb, xe) of a run (empty for rows outside the frame).
inline void clip_run(const Run& r, int64_t H, int64_t W, int64_t& xb, int64_t& xe) {
  if (r.fy < 0 || r.fy >= H) {
    xb = xe = 0;
    return;
  }
  xb = std::max<int64_t>(r.x_begin, 0);
  xe = std::min<int64_t>(r.x_end, W);
}

// ---------------------------------------------------------------------------------------------
// Lanes: the per-pixel values of the crop (F_0 .. F_{C-1}, M), of a tile entry's composite and of
// their gradients are stored interleaved, L = 4 NV values per pixel (lane C: the mask / M, the
// lanes above it 0), so every tap reads or updates NV vectors of 4 values.
// ---------------------------------------------------------------------------------------------
#if defined(__GNUC__) || defined(__clang__)
template <typename T>
struct Vec4Type {
  typedef T type __attribute__((vector_size(4 * sizeof(T))));
};
template <typename T>
using Vec4 = typename Vec4Type<T>::type;
#else
template <typename T>
struct Vec4 {  // portable stand-in for the GCC / Clang vector type
  T x[4];
  T& operator[](int i) { return x[i]; }
  T operator[](int i) const { return x[i]; }
  friend Vec4 operator+(Vec4 a, const Vec4& b) {
    for (int i = 0; i < 4; ++i) a.x[i] += b.x[i];
    return a;
  }
  friend Vec4 operator*(Vec4 a, const Vec4& b) {
    for (int i = 0; i < 4; ++i) a.x[i] *= b.x[i];
    return a;
  }
  friend Vec4 operator*(T s, Vec4 a) {
    for (int i = 0; i < 4; ++i) a.x[i] *= s;
    return a;
  }
  Vec4& operator+=(const Vec4& b) { return *this = *this + b; }
};
#endif

template <typename T>
inline Vec4<T> zero4() {
  Vec4<T> v;
  for (int i = 0; i < 4; ++i) v[i] = T(0);
  return v;
}
template <typename T>
inline Vec4<T> load4(const T* p) {
  Vec4<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
inline void store4(T* p, const Vec4<T>& v) {
  std::memcpy(p, &v, sizeof v);
}
template <typename T>
inline void add4(T* p, const Vec4<T>& v) {
  store4(p, load4(p) + v);
}
template <typename V>
inline auto hsum4(const V& v) {
  return (v[0] + v[1]) + (v[2] + v[3]);
}

// Vectors of 4 lanes per pixel: NV = ceil((C + 1) / 4), known at compile time when kC > 0.
template <int kC>
inline int64_t vectors(int64_t C) {
  return ((kC > 0 ? kC : C) + 4) / 4;
}
template <int kC>
constexpr int kVectors = kC > 0 ? (kC + 4) / 4 : 0;

// The NV vectors of one pixel: a stack array (kept in registers) when NV is known at compile time.
template <typename T, int kNV>
struct Lanes {
  explicit Lanes(int64_t) {}
  Vec4<T>* data() { return v; }
  Vec4<T> v[kNV];
};
template <typename T>
struct Lanes<T, 0> {
  explicit Lanes(int64_t NV) : v(NV) {}
  Vec4<T>* data() { return v.data(); }
  std::vector<Vec4<T>> v;
};

template <typename V>
inline auto& lane(V* v, int64_t c) {
  return v[c >> 2][c & 3];
}

// v = the lanes (c < C) of a strided pixel (a background pixel or an output gradient), 0 above.
template <typename T, int kC>
inline void gather_lanes(const T* src, int64_t stride, int64_t C_, int64_t NV_, Vec4<T>* v) {
  const int64_t C = kC > 0 ? kC : C_, NV = kC > 0 ? kVectors<kC> : NV_;
  for (int64_t j = 0; j < NV; ++j) v[j] = zero4<T>();
  for (int64_t c = 0; c < C; ++c) lane(v, c) = src[c * stride];
}

// The crop of batch item b interleaved by pixel: X[q L + c] = fg_c, X[q L + C] = mask, 0 above.
template <typename T, int kC>
void interleave_crop(const Problem& p, int64_t b, const T* fg, const T* mask, T* X) {
  const int64_t C = kC > 0 ? kC : p.C, L = 4 * vectors<kC>(C), cplane = p.h * p.w;
  const T* fgb = fg + b * C * cplane;
  const T* mb = mask + b * cplane;
  std::fill(X, X + cplane * L, T(0));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t q = 0; q < cplane; ++q) X[q * L + c] = fgb[c * cplane + q];
  for (int64_t q = 0; q < cplane; ++q) X[q * L + C] = mb[q];
}

// v = sum over the taps k of a_k X[o_k L ...]: (F_0 .. F_{C-1}, M) at a crop point (or, with the
// tile as X and frame weights, the output at an output pixel). kN > 0: the number of taps known
// at compile time.
template <typename T, int kNV, int kN>
inline void tap_sum(const T* a, const int64_t* o, int n_, const T* X, int64_t NV_, Vec4<T>* v) {
  const int64_t NV = kNV > 0 ? kNV : NV_, L = 4 * NV;
  const int n = kN > 0 ? kN : n_;
  for (int64_t j = 0; j < NV; ++j) {
    Vec4<T> acc = zero4<T>();
    for (int k = 0; k < n; ++k) acc += a[k] * load4(X + o[k] * L + 4 * j);
    v[j] = acc;
  }
}

// X[o_k L ...] += a_k d for every tap k (a gradient scatter).
template <typename T, int kNV>
inline void tap_scatter(const T* a, const int64_t* o, int n, const Vec4<T>* d, int64_t NV_,
                        T* X) {
  const int64_t NV = kNV > 0 ? kNV : NV_, L = 4 * NV;
  for (int k = 0; k < n; ++k)
    for (int64_t j = 0; j < NV; ++j) add4(X + o[k] * L + 4 * j, a[k] * d[j]);
}

// sum over the lanes of a * b.
template <typename T, int kNV>
inline T dot_lanes(const Vec4<T>* a, const Vec4<T>* b, int64_t NV_) {
  const int64_t NV = kNV > 0 ? kNV : NV_;
  Vec4<T> acc = a[0] * b[0];
  for (int64_t j = 1; j < NV; ++j) acc += a[j] * b[j];
  return hsum4(acc);
}

// The frame weights of the 4 taps of output pixel q and their tile entries.
template <typename T>
inline void output_taps(const Tile<T>& t, int64_t q, T a[4], int64_t o[4]) {
  const T* wq = &t.w[4 * q];
  a[0] = wq[0] * wq[2];
  a[1] = wq[1] * wq[2];
  a[2] = wq[0] * wq[3];
  a[3] = wq[1] * wq[3];
  o[0] = t.i0[q];
  o[1] = t.i0[q] + 1;
  o[2] = t.i1[q];
  o[3] = t.i1[q] + 1;
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

// Step 2: the composite M F + (1 - M) background at every tile entry, G[i L + c] (0 on virtual
// entries). X: the interleaved crop.
template <typename T, int kC>
void composite(const Problem& p, int64_t b, const T* X, const T* bg, const Tile<T>& t, T* G) {
  const int64_t C = kC > 0 ? kC : p.C, NV = vectors<kC>(C), L = 4 * NV;
  constexpr int kNV = kVectors<kC>;
  const double* P = p.pix + 12 * b;
  const T* bgb = bg + b * p.bsb;
  Lanes<T, kNV> vs(NV), bs(NV);
  Vec4<T>* v = vs.data();
  Vec4<T>* bv = bs.data();
  std::fill(G, G + t.size * L, T(0));
  CropTaps<T, false> ct;
  for (const Run& r : t.runs) {
    int64_t xb, xe;
    clip_run(r, p.H, p.W, xb, xe);
    if (xb >= xe) continue;
    const T* bgr = bgb + r.fy * p.bsy;
    for (int64_t fx = xb; fx < xe; ++fx) {
      const CropPoint cp = crop_point(P, fx, r.fy);
      crop_taps(cp.x, cp.y, p.h, p.w, ct);
      if (ct.n == 4)
        tap_sum<T, kNV, 4>(ct.a, ct.o, 4, X, NV, v);
      else
        tap_sum<T, kNV, 0>(ct.a, ct.o, ct.n, X, NV, v);
      gather_lanes<T, kC>(bgr + fx * p.bsx, p.bsc, C, NV, bv);
      const T M = lane(v, C);
      T* g = G + (r.start + (fx - r.x_begin)) * L;
      for (int64_t j = 0; j < NV; ++j) store4(g + 4 * j, M * v[j] + (T(1) - M) * bv[j]);
    }
  }
}

template <typename T, int kC>
void forward(const Problem& p, const T* fg, const T* mask, const T* bg, T* out) {
  at::parallel_for(0, p.B, 1, [&](int64_t bbegin, int64_t bend) {
    const int64_t C = kC > 0 ? kC : p.C, NV = vectors<kC>(C), L = 4 * NV,
                  oplane = p.oh * p.ow;
    constexpr int kNV = kVectors<kC>;
    Tile<T> t;
    std::vector<T> X(p.h * p.w * L), G;
    Lanes<T, kNV> vs(NV);
    Vec4<T>* v = vs.data();
    for (int64_t b = bbegin; b < bend; ++b) {
      plan(p, b, t);
      interleave_crop<T, kC>(p, b, fg, mask, X.data());
      G.resize(t.size * L);
      composite<T, kC>(p, b, X.data(), bg, t, G.data());
      // Step 3: bilinear read of the tile at the 4 taps of every output pixel.
      T* outb = out + b * C * oplane;
      for (int64_t q = 0; q < oplane; ++q) {
        if (t.i0[q] < 0) {
          for (int64_t c = 0; c < C; ++c) outb[c * oplane + q] = T(0);
          continue;
        }
        T a[4];
        int64_t o[4];
        output_taps(t, q, a, o);
        tap_sum<T, kNV, 4>(a, o, 4, G.data(), NV, v);
        for (int64_t c = 0; c < C; ++c) outb[c * oplane + q] = lane(v, c);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------

// Output -> tile: gT[i L + c] = sum over the output pixels tapping entry i of their frame weight
// times dL/dout_c.
template <typename T, int kC>
void scatter_output_grad(const Problem& p, const Tile<T>& t, const T* gob, T* gT) {
  const int64_t C = kC > 0 ? kC : p.C, NV = vectors<kC>(C), L = 4 * NV,
                oplane = p.oh * p.ow;
  constexpr int kNV = kVectors<kC>;
  Lanes<T, kNV> gs(NV);
  Vec4<T>* g = gs.data();
  std::fill(gT, gT + t.size * L, T(0));
  for (int64_t q = 0; q < oplane; ++q) {
    if (t.i0[q] < 0) continue;
    gather_lanes<T, kC>(gob + q, oplane, C, NV, g);
    bool gnz = false;
    for (int64_t c = 0; c < C; ++c) gnz = gnz || lane(g, c) != T(0);
    if (!gnz) continue;  // nothing flows back through this pixel
    T a[4];
    int64_t o[4];
    output_taps(t, q, a, o);
    tap_scatter<T, kNV>(a, o, 4, g, NV, gT);
  }
}

// Where the tile -> crop pass of one batch item writes.
template <typename T>
struct CropPassOut {
  T* gX;         // interleaved crop gradient (fg_c, mask), or nullptr
  T* G;          // composite at every entry, for the dst_theta gradient, or nullptr
  T* bgrad;      // background gradient at every entry, or nullptr
  double gS[6];  // dL / d inv(src_theta)
};

// Tile -> crop: every in-frame entry with a gradient g_c = dL/dcomposite_c sends
//   fg:  a_k M g_c to its crop taps,   mask: a_k dL/dM, dL/dM = sum_c g_c (F_c - bg_c),
//   src: dL/d(crop point) = M sum_c g_c dF_c + dL/dM dM (by the crop taps' derivatives),
//   background: (1 - M) g_c.
// The crop gradients go to the interleaved gX (one update of L values per crop tap). For the
// dst_theta gradient the pass also stores the composite of every entry in G, also where the
// gradient is 0 (a frame tap of weight 0 still has a derivative).
template <typename T, int kC>
void tile_to_crop(const Problem& p, int64_t b, const Tile<T>& t, const T* X, const T* bg,
                  const T* gT, bool need_src, CropPassOut<T>& out) {
  const int64_t C = kC > 0 ? kC : p.C, NV = vectors<kC>(C), L = 4 * NV, h = p.h, w = p.w;
  constexpr int kNV = kVectors<kC>;
  const double* P = p.pix + 12 * b;
  const double W = static_cast<double>(p.W), H = static_cast<double>(p.H);
  const double hw = 0.5 * static_cast<double>(w), hh = 0.5 * static_cast<double>(h);
  const T* bgb = bg + b * p.bsb;
  Lanes<T, kNV> gs(NV), vs(NV), vxs(NV), vys(NV), bs(NV), ds(NV);
  Vec4<T>*const g = gs.data();
  Vec4<T>*const v = vs.data();
  Vec4<T>*const vx = vxs.data();
  Vec4<T>*const vy = vys.data();
  Vec4<T>*const bv = bs.data();
  Vec4<T>*const d = ds.data();
  CropTaps<T, true> ct;
  for (int k = 0; k < 6; ++k) out.gS[k] = 0;
  for (const Run& r : t.runs) {
    int64_t xb, xe;
    clip_run(r, p.H, p.W, xb, xe);
    if (xb >= xe) continue;
    const T* bgr = bgb + r.fy * p.bsy;
    double sx = 0, sxp = 0, sy = 0, syp = 0;  // run sums of dL/dqx, dL/dqx px, ...
    for (int64_t fx = xb; fx < xe; ++fx) {
      const int64_t i = r.start + (fx - r.x_begin);
      bool gnz = false;
      for (int64_t j = 0; j < NV; ++j) {
        g[j] = load4(gT + i * L + 4 * j);
        for (int l = 0; l < 4; ++l) gnz = gnz || g[j][l] != T(0);
      }
      if (!gnz && !out.G) continue;
      const CropPoint cp = crop_point(P, fx, r.fy);
      crop_taps(cp.x, cp.y, h, w, ct);
      gather_lanes<T, kC>(bgr + fx * p.bsx, p.bsc, C, NV, bv);
      T* Gi = out.G ? out.G + i * L : nullptr;
      T* pg = out.bgrad ? out.bgrad + i * L : nullptr;
      if (ct.n == 0) {  // outside the crop: composite = background
        for (int64_t j = 0; j < NV; ++j) {
          if (Gi) store4(Gi + 4 * j, bv[j]);
          if (pg) store4(pg + 4 * j, g[j]);
        }
        continue;
      }
      // (F_c, M) at the crop point, and their derivatives along the crop axes.
      if (ct.n == 4)
        tap_sum<T, kNV, 4>(ct.a, ct.o, 4, X, NV, v);
      else
        tap_sum<T, kNV, 0>(ct.a, ct.o, ct.n, X, NV, v);
      const T M = lane(v, C);
      if (Gi)
        for (int64_t j = 0; j < NV; ++j) store4(Gi + 4 * j, M * v[j] + (T(1) - M) * bv[j]);
      if (!gnz) continue;
      if (ct.n == 4) {
        tap_sum<T, kNV, 4>(ct.ax, ct.o, 4, X, NV, vx);
        tap_sum<T, kNV, 4>(ct.ay, ct.o, 4, X, NV, vy);
      } else {
        tap_sum<T, kNV, 0>(ct.ax, ct.o, ct.n, X, NV, vx);
        tap_sum<T, kNV, 0>(ct.ay, ct.o, ct.n, X, NV, vy);
      }
      // sum_c g_c F_c, g_c dF_c/dx, g_c dF_c/dy, g_c bg_c (lane C of g is 0)
      const T TF = dot_lanes<T, kNV>(g, v, NV), TX = dot_lanes<T, kNV>(g, vx, NV),
              TY = dot_lanes<T, kNV>(g, vy, NV), TB = dot_lanes<T, kNV>(g, bv, NV);
      const T dLdM = TF - TB;
      if (out.gX) {  // d = (M g_0 .. M g_{C-1}, dL/dM), a_k d to every crop tap
        for (int64_t j = 0; j < NV; ++j) d[j] = M * g[j];
        lane(d, C) = dLdM;
        tap_scatter<T, kNV>(ct.a, ct.o, ct.n, d, NV, out.gX);
      }
      if (need_src) {
        const double dLdcx = static_cast<double>(M * TX + dLdM * lane(vx, C));
        const double dLdcy = static_cast<double>(M * TY + dLdM * lane(vy, C));
        const double px = (2.0 * fx + 1.0) / W - 1.0;
        sx += dLdcx;
        sxp += dLdcx * px;
        sy += dLdcy;
        syp += dLdcy * px;
      }
      if (pg)
        for (int64_t j = 0; j < NV; ++j) store4(pg + 4 * j, (T(1) - M) * g[j]);
    }
    if (need_src) {
      const double py = (2.0 * r.fy + 1.0) / H - 1.0;
      out.gS[0] += sxp * hw;
      out.gS[1] += sx * hw * py;
      out.gS[2] += sx * hw;
      out.gS[3] += syp * hh;
      out.gS[4] += sy * hh * py;
      out.gS[5] += sy * hh;
    }
  }
}

// dst_theta: d out / d (X, Y) = sum over the 4 taps of the frame weights' derivatives times
// sum_c g_c composite_c (0 on virtual taps, as the general kernel's zeroed derivatives), summed
// into gD = dL / d dst_theta.
template <typename T, int kC>
void dst_theta_grad(const Problem& p, const Tile<T>& t, const T* gob, const T* G, double* gD) {
  const int64_t C = kC > 0 ? kC : p.C, NV = vectors<kC>(C), L = 4 * NV, oh = p.oh, ow = p.ow,
                oplane = oh * ow;
  constexpr int kNV = kVectors<kC>;
  const double W = static_cast<double>(p.W), H = static_cast<double>(p.H);
  Lanes<T, kNV> gs(NV), cs(NV);
  Vec4<T>* g = gs.data();
  Vec4<T>* cv = cs.data();
  for (int k = 0; k < 6; ++k) gD[k] = 0;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const double v = (2.0 * oy + 1.0) / oh - 1.0;
    double rX = 0, rXu = 0, rY = 0, rYu = 0;  // row sums of dL/dX, dL/dX u, ...
    for (int64_t ox = 0; ox < ow; ++ox) {
      const int64_t q = oy * ow + ox;
      if (t.i0[q] < 0) continue;
      gather_lanes<T, kC>(gob + q, oplane, C, NV, g);
      bool gnz = false;
      for (int64_t c = 0; c < C; ++c) gnz = gnz || lane(g, c) != T(0);
      if (!gnz) continue;
      T a[4];
      int64_t o[4];
      output_taps(t, q, a, o);
      double cg[4];  // sum_c g_c composite_c at the 4 taps
      for (int k = 0; k < 4; ++k) {
        for (int64_t j = 0; j < NV; ++j) cv[j] = load4(G + o[k] * L + 4 * j);
        cg[k] = static_cast<double>(dot_lanes<T, kNV>(g, cv, NV));
      }
      const T* wq = &t.w[4 * q];
      const double wx0 = wq[0], wx1 = wq[1], wy0 = wq[2], wy1 = wq[3];
      const double dLdX = -wy0 * cg[0] + wy0 * cg[1] - wy1 * cg[2] + wy1 * cg[3];
      const double dLdY = -wx0 * cg[0] - wx1 * cg[1] + wx0 * cg[2] + wx1 * cg[3];
      const double u = (2.0 * ox + 1.0) / ow - 1.0;
      rX += dLdX;
      rXu += dLdX * u;
      rY += dLdY;
      rYu += dLdY * u;
    }
    gD[0] += rXu * 0.5 * W;
    gD[1] += rX * 0.5 * W * v;
    gD[2] += rX * 0.5 * W;
    gD[3] += rYu * 0.5 * H;
    gD[4] += rY * 0.5 * H * v;
    gD[5] += rY * 0.5 * H;
  }
}

// Per batch item, kept for the background pass: the background gradient (1 - M) dL/dcomposite
// at every entry, [i L + c], and the in-frame parts of the tile's runs as segments: frame pixels
// offset .. offset + len - 1 (offset = fy W + fx) are the entries entry .. entry + len - 1.
template <typename T>
struct BackgroundPart {
  struct Segment {
    int64_t offset;
    int32_t len, entry;
  };
  std::vector<Segment> segments;
  std::vector<T> grad;

  void set_segments(const std::vector<Run>& runs, int64_t H, int64_t W) {
    segments.clear();
    for (const Run& r : runs) {
      int64_t xb, xe;
      clip_run(r, H, W, xb, xe);
      if (xb >= xe) continue;
      segments.push_back({r.fy * W + xb, static_cast<int32_t>(xe - xb),
                          static_cast<int32_t>(r.start + (xb - r.x_begin))});
    }
  }
};

template <typename T, int kC>
void backward(const Problem& p, const T* go, const T* fg, const T* mask, const T* bg,
              T* gfg,  // nullptr unless requested
              T* gm,   // nullptr unless requested
              T* gbg,  // nullptr unless requested
              bool need_src, bool need_dst, double* gsinv, double* gdst) {
  const bool need_bg = gbg != nullptr;
  std::vector<BackgroundPart<T>> parts(need_bg ? p.B : 0);
  at::parallel_for(0, p.B, 1, [&](int64_t bbegin, int64_t bend) {
    const int64_t C = kC > 0 ? kC : p.C, L = 4 * vectors<kC>(C), cplane = p.h * p.w,
                  oplane = p.oh * p.ow;
    Tile<T> t;
    std::vector<T> X(cplane * L), gX, G, gT;
    for (int64_t b = bbegin; b < bend; ++b) {
      plan(p, b, t);
      interleave_crop<T, kC>(p, b, fg, mask, X.data());
      const T* gob = go + b * C * oplane;
      gT.resize(t.size * L);
      scatter_output_grad<T, kC>(p, t, gob, gT.data());

      CropPassOut<T> out{nullptr, nullptr, nullptr, {}};
      if (gfg || gm) {
        gX.assign(cplane * L, T(0));
        out.gX = gX.data();
      }
      if (need_dst) {
        G.assign(t.size * L, T(0));
        out.G = G.data();
      }
      if (need_bg) {
        parts[b].set_segments(t.runs, p.H, p.W);
        parts[b].grad.assign(t.size * L, T(0));
        out.bgrad = parts[b].grad.data();
      }
      tile_to_crop<T, kC>(p, b, t, X.data(), bg, gT.data(), need_src, out);
      for (int k = 0; k < 6; ++k) gsinv[6 * b + k] = out.gS[k];
      // The interleaved crop gradient to fg / mask (this task is their only writer).
      if (gfg) {
        T* gfgb = gfg + b * C * cplane;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t q = 0; q < cplane; ++q) gfgb[c * cplane + q] = gX[q * L + c];
      }
      if (gm) {
        T* gmb = gm + b * cplane;
        for (int64_t q = 0; q < cplane; ++q) gmb[q] = gX[q * L + C];
      }
      if (need_dst) dst_theta_grad<T, kC>(p, t, gob, G.data(), gdst + 6 * b);
    }
  });

  if (!need_bg) return;
  // Background pass: one writer per (background batch, channel) plane, items in batch order.
  const int64_t C = p.C, L = 4 * vectors<0>(C), Bb = p.Bb, B = p.B, fplane = p.H * p.W;
  at::parallel_for(0, Bb * C, 1, [&](int64_t pbegin, int64_t pend) {
    for (int64_t q = pbegin; q < pend; ++q) {
      const int64_t bb = q / C, c = q % C;
      T* dst = gbg + (bb * C + c) * fplane;
      const int64_t b0 = (Bb == B) ? bb : 0, b1 = (Bb == B) ? bb + 1 : B;
      for (int64_t b = b0; b < b1; ++b) {
        const BackgroundPart<T>& part = parts[b];
        for (const auto& seg : part.segments) {
          T* d = dst + seg.offset;
          const T* s = part.grad.data() + static_cast<int64_t>(seg.entry) * L + c;
          for (int64_t k = 0; k < seg.len; ++k) d[k] += s[k * L];
        }
      }
    }
  });
}

}  // namespace tiled
}  // namespace dprobe

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
