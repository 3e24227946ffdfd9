#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>

using namespace tg;

TEST(Tensor, ABatchIsRowsTimesFeaturesAndShapesPrintAsRowsXCols) {
  Tensor t = zeros(64, 784);
  EXPECT_EQ(rows(t), 64u);
  EXPECT_EQ(cols(t), 784u);
  EXPECT_EQ(shape_str(t), "64x784");
}

TEST(Tensor, NestedBracesBuildARowMajorTensor) {
  Tensor t = tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(shape_str(t), "2x3");
  EXPECT_FLOAT_EQ(t.data()[3], 4.0f);  // row-major: row 1 starts at element 3
}

TEST(Tensor, RaggedRowsAreAnErrorNamingTheRow) {
  try {
    tensor({{1, 2}, {3}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tensor: row 1 has 1 values but row 0 has 2");
  }
}

TEST(Tensor, ResizingToTheSameShapeKeepsTheBuffer) {
  Tensor t = zeros(8, 8);
  const float* before = t.data();
  resize(t, 8, 8);
  EXPECT_EQ(t.data(), before);
}
