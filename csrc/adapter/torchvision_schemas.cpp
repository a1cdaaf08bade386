#include "adapter/torchvision_schemas.h"

#include <memory>
#include <mutex>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "adapter/switch.h"

namespace tva {
namespace adapter {

const std::vector<std::string>& torchvision_schemas() {
  static const std::vector<std::string> schemas = {
      "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
      "roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, int sampling_ratio, bool aligned) -> Tensor",
      "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, int batch_size, int channels, int height, int width, int sampling_ratio, "
      "bool aligned) -> Tensor",
      "roi_pool(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width) -> (Tensor, Tensor)",
      "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
      "int pooled_height, int pooled_width, int batch_size, int channels, int height, int width) "
      "-> Tensor",
      "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
      "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
      "float spatial_scale, int pooled_height, int pooled_width, int sampling_ratio, "
      "int batch_size, int channels, int height, int width) -> Tensor",
      "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width) -> (Tensor, Tensor)",
      "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
      "float spatial_scale, int pooled_height, int pooled_width, int batch_size, int channels, "
      "int height, int width) -> Tensor",
      "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
      "int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, "
      "int groups, int offset_groups, bool use_mask) -> Tensor",
      "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, "
      "Tensor mask, Tensor bias, int stride_h, int stride_w, int pad_h, int pad_w, "
      "int dilation_h, int dilation_w, int groups, int offset_groups, bool use_mask) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)",
  };
  return schemas;
}

int provide_torchvision_ops() {
  static std::mutex m;
  static std::unique_ptr<torch::Library> definitions; // lives as long as the process
  std::lock_guard<std::mutex> lock(m);
  int defined = 0;
  for (const auto& schema : torchvision_schemas()) {
    const std::string name = "torchvision::" + schema.substr(0, schema.find('('));
    if (c10::Dispatcher::singleton().findSchema(c10::OperatorName(name, "")).has_value()) continue;
    if (!definitions) {
      definitions = std::make_unique<torch::Library>(
          torch::Library::FRAGMENT, "torchvision", c10::nullopt, __FILE__, __LINE__);
    }
    definitions->def(schema.c_str());
    ++defined;
  }
  // Re-install the kernels so that ops defined just now get ours too.
  disable();
  enable();
  return defined;
}

} // namespace adapter
} // namespace tva
