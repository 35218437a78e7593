#include "apps/bench_model.h"

#include "framework/backend/conv_geometry.h"
#include "models/all_cnn_c.h"
#include "models/resnet.h"

namespace convlab::bench {

std::vector<ConvSite> conv_sites(nn::Model& model) {
  std::vector<ConvSite> sites;
  if (auto* resnet = dynamic_cast<models::ResNet*>(&model)) {
    for (const auto& site : resnet->conv_sites())
      sites.push_back({site.conv, site.in_size, !site.shortcut, site.fused_relu});
  } else if (auto* all_cnn = dynamic_cast<models::AllCnnC*>(&model)) {
    int64_t size = 32;  // a chain: each conv reads the one before
    for (nn::Conv2d* conv : all_cnn->convs()) {
      sites.push_back({conv, size, true, true});
      const Tensor& w = conv->weight().value();
      const ops::ConvSpec& spec = conv->spec();
      size = ConvGeometry::make(1, w.dim(1), size, size, w.dim(0), w.dim(2), w.dim(3), spec.stride, spec.padding,
                                spec.pad).out_h;
    }
  } else {
    CONVLAB_FAIL("the benchmark knows the layers of All-CNN-C and ResNet, not {}", model.description());
  }
  return sites;
}

double gflop_per_image(nn::Model& model) {
  double flop = 0;
  for (const ConvSite& site : conv_sites(model)) {
    const Tensor& w = site.conv->weight().value();
    const ops::ConvSpec& spec = site.conv->spec();
    const ConvGeometry g = ConvGeometry::make(1, w.dim(1), site.in_size, site.in_size, w.dim(0), w.dim(2), w.dim(3),
                                              spec.stride, spec.padding, spec.pad);
    flop += 2.0 * static_cast<double>(w.numel()) * static_cast<double>(g.out_h * g.out_w);
  }
  for (Variable* p : model.parameters())
    if (p->value().rank() == 2) flop += 2.0 * static_cast<double>(p->value().numel());  // (out, in) weights
  return flop / 1e9;
}

}  // namespace convlab::bench
