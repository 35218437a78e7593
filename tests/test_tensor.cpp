#include <gtest/gtest.h>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/tensor.h"

using namespace convlab;

TEST(Tensor, ShapeAndFill) {
  Tensor t = Tensor::full({2, 3, 4}, DType::f32, cpu(), 1.5);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.shape().str(), "(2, 3, 4)");
  EXPECT_EQ(t.nbytes(), 96u);
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, 1.5f);
  EXPECT_EQ(Tensor::zeros({5}, DType::i32, cpu()).to_vector<int32_t>(), std::vector<int32_t>(5, 0));
}

TEST(Tensor, MoveOnlyAndExplicitCopies) {
  static_assert(!std::is_copy_constructible_v<Tensor>);
  Tensor a = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  Tensor b = std::move(a);
  EXPECT_FALSE(a.defined());
  Tensor c = b.clone();
  c.host<float>()[0] = 9;
  EXPECT_EQ(b.host<float>()[0], 1.0f);
  Tensor d = b.to(DType::f64);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
  Tensor e = std::move(d).reshaped({4});
  EXPECT_EQ(e.shape(), Shape({4}));
  EXPECT_THROW(std::move(e).reshaped({3}), Error);
}

TEST(Tensor, WrongTypeOrShapeIsAClearError) {
  Tensor t = Tensor::zeros({3}, DType::f32, cpu());
  try {
    t.host<double>();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("accessed as f64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(t.item(), Error);
  EXPECT_THROW(Shape({2, -1}), Error);
}

TEST(Tensor, CudaWithoutGpuIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  try {
    create_cuda_context(0);
    FAIL();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("--device cpu") != std::string::npos || what.find("without CUDA") != std::string::npos)
        << what;
  }
}

TEST(Backend, CudaSlotsNeverRunOnCpuTensors) {
  // The CUDA table refuses CPU tensors (or, built without CUDA, says so) instead of quietly
  // running on the CPU.
  Tensor t = Tensor::zeros({2}, DType::f32, cpu());
  try {
    cuda_backend().sum_squares(t, t);
    FAIL();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("CUDA tensors") != std::string::npos || what.find("without CUDA") != std::string::npos)
        << what;
  }
}
