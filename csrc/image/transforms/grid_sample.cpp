// The sampling step of rotate, affine, perspective and elastic_transform: torchvision builds a
// sampling grid (kept in Python, computed by torchvision's own code so that it is bit for bit the
// same), appends a channel of ones to the image when a fill colour is given, calls grid_sample
// (zeros padding, align_corners=False) and blends the fill in with the sampled ones-channel as mask.
// Here the corner positions and weights of each output pixel are computed once and applied to every
// channel, and the mask is the sum of the in-bounds weights, which is what sampling ones gives.
#include <cmath>
#include <vector>

#include "image/transforms/common.h"
#include "image/transforms/transforms.h"

namespace tva {
namespace image {
namespace {

struct Source {
  const char* data;
  int64_t c, h, w, sn, sc, sh, sw;
  bool u8;
  float at(int64_t n, int64_t ch, int64_t y, int64_t x) const {
    const int64_t off = n * sn + ch * sc + y * sh + x * sw;
    return u8 ? static_cast<float>(reinterpret_cast<const uint8_t*>(data)[off])
              : reinterpret_cast<const float*>(data)[off];
  }
};

} // namespace

at::Tensor grid_transform(
    const at::Tensor& img, const at::Tensor& grid, c10::string_view mode, at::ArrayRef<double> fill,
    bool has_fill) {
  check_image(img, 3, "grid_transform");
  check_u8_or_f32(img, "grid_transform");
  TORCH_CHECK(img.dim() <= 4, "grid_transform: img should be [C, H, W] or [N, C, H, W], got ", img.sizes());
  TORCH_CHECK(
      grid.dim() == 4 && grid.size(0) == 1 && grid.size(3) == 2 && grid.scalar_type() == at::kFloat,
      "grid_transform: grid should be a float32 [1, H_out, W_out, 2] tensor, got ", grid.scalar_type(),
      " ", grid.sizes());
  const bool nearest = mode == "nearest";
  TORCH_CHECK(nearest || mode == "bilinear", "grid_transform: mode should be nearest or bilinear, got ", mode);
  const at::Tensor in4 = img.dim() == 3 ? img.unsqueeze(0) : img;
  const int64_t n = in4.size(0), c = in4.size(1), h = in4.size(2), w = in4.size(3);
  TORCH_CHECK(
      !has_fill || fill.size() == 1 || static_cast<int64_t>(fill.size()) == c,
      "grid_transform: fill should have 1 or ", c, " values, got ", fill.size());
  const Source src{static_cast<const char*>(in4.data_ptr()), c, h, w, in4.stride(0), in4.stride(1),
                   in4.stride(2), in4.stride(3), img.scalar_type() == at::kByte};
  const at::Tensor g = grid.contiguous();
  const float* gp = g.data_ptr<float>();
  const int64_t oh = g.size(1), ow = g.size(2);
  at::Tensor out = at::empty({n, c, oh, ow}, img.options());
  std::vector<float> fills(c, 0.0f);
  for (int64_t k = 0; k < c && has_fill; ++k) fills[k] = static_cast<float>(fill[fill.size() == 1 ? 0 : k]);
  const bool u8 = src.u8;
  uint8_t* o8 = u8 ? out.data_ptr<uint8_t>() : nullptr;
  float* of = u8 ? nullptr : out.data_ptr<float>();
  const float sx = static_cast<float>(w) / 2, sy = static_cast<float>(h) / 2;

  auto store = [&](int64_t plane_out, int64_t k, float v) {
    if (u8) {
      o8[plane_out + k] = to_u8(std::nearbyint(v));
    } else {
      of[plane_out + k] = v;
    }
  };

  parallel_items(oh, ow * c * n * 4, [&](int64_t begin, int64_t end) {
    for (int64_t oy = begin; oy < end; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        const float* gxy = gp + (oy * ow + ox) * 2;
        // grid_sample's unnormalize for align_corners=False: (g + 1) * size / 2 - 0.5
        const float x = (gxy[0] + 1.0f) * sx - 0.5f;
        const float y = (gxy[1] + 1.0f) * sy - 0.5f;
        const int64_t k = oy * ow + ox;
        if (nearest) {
          const float xr = std::nearbyint(x), yr = std::nearbyint(y);
          const bool inside = xr >= 0 && xr < w && yr >= 0 && yr < h;
          const int64_t xi = inside ? static_cast<int64_t>(xr) : 0;
          const int64_t yi = inside ? static_cast<int64_t>(yr) : 0;
          for (int64_t b = 0; b < n; ++b) {
            for (int64_t ch = 0; ch < c; ++ch) {
              float v = inside ? src.at(b, ch, yi, xi) : 0.0f;
              if (has_fill && !inside) v = fills[ch];  // mask (0 or 1) < 0.5
              store((b * c + ch) * oh * ow, k, v);
            }
          }
          continue;
        }
        const float fx = std::floor(x), fy = std::floor(y);
        const float dw = x - fx, dn = y - fy;  // distances to the west column and north row
        const float de = (fx + 1.0f) - x, ds = (fy + 1.0f) - y;
        const float wnw = ds * de, wne = ds * dw, wsw = dn * de, wse = dn * dw;
        const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
        const bool in_w = x0 >= 0 && x0 < w, in_e = x0 + 1 >= 0 && x0 + 1 < w;
        const bool in_n = y0 >= 0 && y0 < h, in_s = y0 + 1 >= 0 && y0 + 1 < h;
        const bool nw = in_n && in_w, ne = in_n && in_e, sw = in_s && in_w, se = in_s && in_e;
        float mask = 0.0f;
        if (has_fill) {
          mask = (nw ? wnw : 0.0f) + (ne ? wne : 0.0f);
          mask = mask + (sw ? wsw : 0.0f);
          mask = mask + (se ? wse : 0.0f);
        }
        for (int64_t b = 0; b < n; ++b) {
          for (int64_t ch = 0; ch < c; ++ch) {
            const float vnw = nw ? src.at(b, ch, y0, x0) : 0.0f;
            const float vne = ne ? src.at(b, ch, y0, x0 + 1) : 0.0f;
            const float vsw = sw ? src.at(b, ch, y0 + 1, x0) : 0.0f;
            const float vse = se ? src.at(b, ch, y0 + 1, x0 + 1) : 0.0f;
            float v = vnw * wnw + vne * wne;
            v = v + vsw * wsw;
            v = v + vse * wse;
            if (has_fill) v = v * mask + (1.0f - mask) * fills[ch];
            store((b * c + ch) * oh * ow, k, v);
          }
        }
      }
    }
  });
  return img.dim() == 3 ? out.squeeze(0) : out;
}

} // namespace image
} // namespace tva
