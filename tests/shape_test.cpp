// Shape ops: forward values on hand-computed cases (rank 2 to 4, negative dims), gradients
// against central differences, and errors that name the op and the shapes while leaving the
// tape as it was.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

using namespace tg;
using test::expect_error;
using test::random_tensor;

using test::expect_rejected;
using test::iota;
using test::random_nd;

namespace {

std::vector<float> values(Var v) {
  return std::vector<float>(v.value().begin(), v.value().end());
}
std::vector<float> grads(Var v) {
  return std::vector<float>(v.grad().begin(), v.grad().end());
}

// sum(w * y) for a fixed random w of y's shape: one number that every element of y feeds.
Var project(Var y) {
  return sum(mul(y, y.tape().constant(random_nd(y.sizes(), 77, -1.0f, 1.0f))));
}

void expect_gradient_correct(const std::function<Var(const std::vector<Var>&)>& f,
                             std::vector<Tensor> inputs) {
  auto r = gradcheck([&f](Tape&, const std::vector<Var>& in) { return project(f(in)); },
                     std::move(inputs));
  EXPECT_TRUE(r) << r.message;
}
void expect_gradient_correct(const std::function<Var(Var)>& f, const Tensor& x) {
  expect_gradient_correct([&f](const std::vector<Var>& in) { return f(in[0]); },
                          std::vector<Tensor>{x});
}

const Shape k234{2, 3, 4};

}  // namespace

// ---- reshape, view, flatten, squeeze, unsqueeze ----

TEST(ShapeReshape, KeepsTheValuesInRowMajorOrder) {
  Tape tape;
  Var x = tape.constant(iota(k234));
  Var y = reshape(x, {4, 6});
  EXPECT_EQ(y.sizes(), (Shape{4, 6}));
  EXPECT_EQ(values(y), values(x));
  Var z = view(x, {24});
  EXPECT_EQ(z.sizes(), (Shape{24}));
  EXPECT_EQ(values(z), values(x));
  EXPECT_EQ(reshape(x, {2, 2, 3, 2}).sizes(), (Shape{2, 2, 3, 2}));
}

TEST(ShapeReshape, GradientsMatchCentralDifferences) {
  const Tensor x = random_nd(k234, 1);
  expect_gradient_correct([](Var v) { return reshape(v, {6, 4}); }, x);
  expect_gradient_correct([](Var v) { return view(v, {3, 2, 2, 2}); }, x);
}

TEST(ShapeReshape, AnotherElementCountIsRefusedNamingBothShapes) {
  expect_rejected(
      [](Var v) {
        return reshape(v, {5, 5});
      },
      iota(k234), {"reshape", "2x3x4", "5x5", "24", "25"});
  expect_rejected([](Var v) { return view(v, {7}); }, iota(k234), {"view", "2x3x4", "7"});
}

TEST(ShapeFlatten, MergesTheDimsBetweenStartAndEnd) {
  Tape tape;
  Var x = tape.constant(iota({2, 3, 4, 5}));
  EXPECT_EQ(flatten(x).sizes(), (Shape{120}));
  EXPECT_EQ(flatten(x, 1).sizes(), (Shape{2, 60}));
  EXPECT_EQ(flatten(x, 0, 1).sizes(), (Shape{6, 4, 5}));
  EXPECT_EQ(flatten(x, 1, -2).sizes(), (Shape{2, 12, 5}));
  EXPECT_EQ(flatten(x, -1, -1).sizes(), (Shape{2, 3, 4, 5}));
  EXPECT_EQ(values(flatten(x, 1)), values(x));
  EXPECT_EQ(flatten(tape.constant(scalar(3.0f))).sizes(), (Shape{1}));
}

TEST(ShapeFlatten, GradientMatchesAndAStartAfterTheEndIsRefused) {
  expect_gradient_correct([](Var v) { return flatten(v, 1); }, random_nd(k234, 2));
  expect_rejected([](Var v) { return flatten(v, 2, 1); }, iota(k234),
                  {"flatten", "start_dim 2", "end_dim 1", "2x3x4"});
  expect_rejected([](Var v) { return flatten(v, 0, 3); }, iota(k234),
                  {"flatten", "dim 3", "2x3x4"});
}

TEST(ShapeSqueeze, RemovesOneSizeOneDimOrAllOfThem) {
  Tape tape;
  Var x = tape.constant(iota({1, 2, 1, 3}));
  EXPECT_EQ(squeeze(x, 0).sizes(), (Shape{2, 1, 3}));
  EXPECT_EQ(squeeze(x, -2).sizes(), (Shape{1, 2, 3}));
  EXPECT_EQ(squeeze(x).sizes(), (Shape{2, 3}));
  EXPECT_EQ(values(squeeze(x)), values(x));
  EXPECT_EQ(squeeze(tape.constant(iota({1, 1}))).dim(), 0u);
}

TEST(ShapeSqueeze, ADimWhoseSizeIsNotOneIsRefused) {
  expect_rejected([](Var v) { return squeeze(v, 1); }, iota({2, 3, 1}),
                  {"squeeze", "dim 1", "2x3x1", "size 3"});
  expect_rejected([](Var v) { return squeeze(v, 3); }, iota({2, 3, 1}),
                  {"squeeze", "dim 3", "2x3x1"});
}

TEST(ShapeUnsqueeze, InsertsASizeOneDimAnywhereIncludingTheEnd) {
  Tape tape;
  Var x = tape.constant(iota({2, 3}));
  EXPECT_EQ(unsqueeze(x, 0).sizes(), (Shape{1, 2, 3}));
  EXPECT_EQ(unsqueeze(x, 1).sizes(), (Shape{2, 1, 3}));
  EXPECT_EQ(unsqueeze(x, 2).sizes(), (Shape{2, 3, 1}));
  EXPECT_EQ(unsqueeze(x, -1).sizes(), (Shape{2, 3, 1}));
  EXPECT_EQ(unsqueeze(x, -3).sizes(), (Shape{1, 2, 3}));
  EXPECT_EQ(values(unsqueeze(x, 1)), values(x));
}

TEST(ShapeUnsqueeze, GradientsMatchAndADimBeyondRankPlusOneIsRefused) {
  const Tensor x = random_nd({2, 1, 3}, 3);
  expect_gradient_correct([](Var v) { return unsqueeze(v, -1); }, x);
  expect_gradient_correct([](Var v) { return squeeze(v, 1); }, x);
  expect_gradient_correct([](Var v) { return squeeze(v); }, x);
  expect_rejected([](Var v) { return unsqueeze(v, 3); }, iota({2, 3}),
                  {"unsqueeze", "dim 3", "2x3"});
  expect_rejected([](Var v) { return unsqueeze(v, -4); }, iota({2, 3}),
                  {"unsqueeze", "dim -4", "2x3"});
}

// ---- transpose / permute ----

TEST(ShapeTranspose, SwapsTwoDims) {
  Tape tape;
  Var m = transpose(tape.constant(tensor({{1, 2, 3}, {4, 5, 6}})), 0, 1);
  EXPECT_EQ(m.sizes(), (Shape{3, 2}));
  EXPECT_EQ(values(m), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  Var y = transpose(tape.constant(iota(k234)), 0, -1);
  EXPECT_EQ(y.sizes(), (Shape{4, 3, 2}));
  for (std::size_t k = 0; k < 4; ++k)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t i = 0; i < 2; ++i)
        EXPECT_EQ(y.value()(k, j, i), static_cast<float>(12 * i + 4 * j + k));
  EXPECT_EQ(values(transpose(tape.constant(iota(k234)), 1, 1)), values(tape.constant(iota(k234))));
}

TEST(ShapePermute, ReordersEveryDim) {
  Tape tape;
  Var y = permute(tape.constant(iota(k234)), {2, 0, 1});
  EXPECT_EQ(y.sizes(), (Shape{4, 2, 3}));
  for (std::size_t k = 0; k < 4; ++k)
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 3; ++j)
        EXPECT_EQ(y.value()(k, i, j), static_cast<float>(12 * i + 4 * j + k));
  Var z = permute(tape.constant(iota({2, 3, 4, 5})), {-1, 1, 0, -2});
  EXPECT_EQ(z.sizes(), (Shape{5, 3, 2, 4}));
  EXPECT_EQ(z.value()(4, 2, 1, 3), 60.0f + 40.0f + 15.0f + 4.0f);
}

TEST(ShapePermute, GradientsMatchCentralDifferences) {
  const Tensor x = random_nd({2, 3, 2, 2}, 4);
  expect_gradient_correct([](Var v) { return transpose(v, 1, -1); }, x);
  expect_gradient_correct([](Var v) { return permute(v, {3, 1, 0, 2}); }, x);
  expect_gradient_correct([](Var v) { return permute(v, {0, 1, 2, 3}); }, x);
}

TEST(ShapePermute, AListThatIsNotAPermutationIsRefused) {
  const Tensor x = iota(k234);
  expect_rejected([](Var v) { return permute(v, {0, 1}); }, x, {"permute", "2x3x4", "[0, 1]"});
  expect_rejected(
      [](Var v) {
        return permute(v, {0, 2, -1});
      },
      x, {"permute", "dim -1", "twice", "2x3x4"});
  expect_rejected([](Var v) { return permute(v, {0, 1, 3}); }, x, {"permute", "dim 3", "2x3x4"});
  expect_rejected([](Var v) { return transpose(v, 0, 3); }, x, {"transpose", "dim 3", "2x3x4"});
}

// ---- slice ----

TEST(ShapeSlice, TakesStartToEndMinusOneAlongADim) {
  Tape tape;
  Var x = tape.constant(iota(k234));
  Var y = slice(x, 1, 1, 3);
  EXPECT_EQ(y.sizes(), (Shape{2, 2, 4}));
  EXPECT_EQ(values(y),
            (std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}));
  Var z = slice(x, -1, 2, 4);
  EXPECT_EQ(z.sizes(), (Shape{2, 3, 2}));
  EXPECT_EQ(values(z), (std::vector<float>{2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23}));
  EXPECT_EQ(slice(x, 0, 1, 1).sizes(), (Shape{0, 3, 4}));
}

TEST(ShapeSlice, GradientReachesOnlyTheSlicedElements) {
  Tape tape;
  Var x = tape.variable(iota({2, 3}));
  tape.backward(sum(slice(x, 1, 1, 2)));
  EXPECT_EQ(grads(x), (std::vector<float>{0, 1, 0, 0, 1, 0}));
  expect_gradient_correct([](Var v) { return slice(v, 0, 1, 2); }, random_nd(k234, 5));
  expect_gradient_correct([](Var v) { return slice(v, -2, 0, 2); }, random_nd(k234, 6));
}

TEST(ShapeSlice, ARangeOutsideTheDimIsRefused) {
  expect_rejected([](Var v) { return slice(v, 1, 2, 4); }, iota(k234),
                  {"slice", "start 2", "end 4", "size 3", "2x3x4"});
  expect_rejected([](Var v) { return slice(v, 0, 2, 1); }, iota(k234), {"slice", "2x3x4"});
  expect_rejected([](Var v) { return slice(v, 3, 0, 1); }, iota(k234), {"slice", "dim 3", "2x3x4"});
}

// ---- cat / stack ----

TEST(ShapeCat, JoinsAlongAnyDim) {
  Tape tape;
  Var a = tape.constant(tensor({{1, 2, 3}, {4, 5, 6}}));
  Var b = tape.constant(tensor({{7, 8}, {9, 10}}));
  Var c = cat({a, b}, 1);
  EXPECT_EQ(c.sizes(), (Shape{2, 5}));
  EXPECT_EQ(values(c), (std::vector<float>{1, 2, 3, 7, 8, 4, 5, 6, 9, 10}));
  Var r = cat({a, tape.constant(tensor({{0, 0, 0}}))});
  EXPECT_EQ(values(r), (std::vector<float>{1, 2, 3, 4, 5, 6, 0, 0, 0}));
  Var d = cat({tape.constant(iota({2, 1, 2})), tape.constant(iota({2, 2, 2}))}, -2);
  EXPECT_EQ(d.sizes(), (Shape{2, 3, 2}));
  EXPECT_EQ(values(d), (std::vector<float>{0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 6, 7}));
}

TEST(ShapeCat, AVarUsedTwiceGetsBothGradients) {
  Tape tape;
  Var x = tape.variable(tensor({{1, 2}}));
  tape.backward(sum(mul(cat({x, x}, 0), tape.constant(tensor({{1, 2}, {10, 20}})))));
  EXPECT_EQ(grads(x), (std::vector<float>{11, 22}));
  expect_gradient_correct(
      [](const std::vector<Var>& in) {
        return cat({in[0], in[1], in[0]}, 1);
      },
      {random_nd(k234, 7), random_nd({2, 1, 4}, 8)});
  expect_gradient_correct(
      [](const std::vector<Var>& in) {
        return cat({in[0], in[1]}, -1);
      },
      {random_nd(k234, 9), random_nd({2, 3, 2}, 10)});
}

TEST(ShapeCat, MismatchedShapesOrNoInputsAreRefused) {
  expect_rejected(
      [](Var a, Var b) {
        return cat({a, b}, 0);
      },
      iota({2, 3}), iota({3, 2}), {"cat", "input 1", "3x2", "2x3", "dim 0"});
  expect_rejected(
      [](Var a, Var b) {
        return cat({a, b}, 1);
      },
      iota({2, 3}), iota({2, 3, 1}), {"cat", "2x3x1", "2x3"});
  expect_rejected([](Var v) { return cat({v}, 2); }, iota({2, 3}), {"cat", "dim 2", "2x3"});
  expect_error([] { cat({}); }, {"cat", "no inputs"});
}

TEST(ShapeStack, AddsANewDimAtAnyPlace) {
  Tape tape;
  Var a = tape.constant(tensor({{1, 2, 3}, {4, 5, 6}}));
  Var b = tape.constant(tensor({{7, 8, 9}, {10, 11, 12}}));
  Var s0 = stack({a, b});
  EXPECT_EQ(s0.sizes(), (Shape{2, 2, 3}));
  EXPECT_EQ(values(s0), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  Var s1 = stack({a, b}, 1);
  EXPECT_EQ(s1.sizes(), (Shape{2, 2, 3}));
  EXPECT_EQ(values(s1), (std::vector<float>{1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12}));
  Var s2 = stack({a, b}, -1);
  EXPECT_EQ(s2.sizes(), (Shape{2, 3, 2}));
  EXPECT_EQ(values(s2), (std::vector<float>{1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12}));
  Var scalars = stack({tape.constant(scalar(1)), tape.constant(scalar(2))});
  EXPECT_EQ(scalars.sizes(), (Shape{2}));
}

TEST(ShapeStack, GradientsMatchAndMismatchedShapesAreRefused) {
  expect_gradient_correct(
      [](const std::vector<Var>& in) {
        return stack({in[0], in[1]}, 1);
      },
      {random_nd(k234, 11), random_nd(k234, 12)});
  expect_gradient_correct(
      [](const std::vector<Var>& in) {
        return stack({in[1], in[0]}, -1);
      },
      {random_nd({2, 3}, 13), random_nd({2, 3}, 14)});
  expect_rejected(
      [](Var a, Var b) {
        return stack({a, b});
      },
      iota({2, 3}), iota({3, 2}), {"stack", "input 1", "3x2", "2x3"});
  expect_rejected([](Var v) { return stack({v, v}, 3); }, iota({2, 3}), {"stack", "dim 3", "2x3"});
  expect_error([] { stack({}); }, {"stack", "no inputs"});
}

// ---- index_select / gather ----

TEST(ShapeIndexSelect, PicksRowsAndRepeatedRowsGetEveryGradient) {
  Tape tape;
  Var x = tape.variable(iota({4, 3}));
  Var y = index_select(x, 0, {2, 0, 2});
  EXPECT_EQ(y.sizes(), (Shape{3, 3}));
  EXPECT_EQ(values(y), (std::vector<float>{6, 7, 8, 0, 1, 2, 6, 7, 8}));
  tape.backward(sum(y));
  EXPECT_EQ(grads(x), (std::vector<float>{1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 0, 0}));
}

TEST(ShapeIndexSelect, AlongAMiddleDimOfARank3Input) {
  Tape tape;
  Var y = index_select(tape.constant(iota(k234)), -2, {1, 1});
  EXPECT_EQ(y.sizes(), (Shape{2, 2, 4}));
  EXPECT_EQ(values(y),
            (std::vector<float>{4, 5, 6, 7, 4, 5, 6, 7, 16, 17, 18, 19, 16, 17, 18, 19}));
  expect_gradient_correct(
      [](Var v) {
        return index_select(v, 2, {3, 0, 3, 1});
      },
      random_nd(k234, 15));
  expect_gradient_correct([](Var v) { return index_select(v, 0, {1, 0, 1}); }, random_nd(k234, 16));
}

TEST(ShapeIndexSelect, AnIndexOutOfRangeIsRefusedNamingItAndItsPosition) {
  expect_rejected(
      [](Var v) {
        return index_select(v, 0, {0, 4});
      },
      iota({4, 3}), {"index_select", "index 4", "position 1", "size 4", "4x3"});
  expect_rejected([](Var v) { return index_select(v, 1, {-1}); }, iota({4, 3}),
                  {"index_select", "index -1", "position 0", "4x3"});
  expect_rejected([](Var v) { return index_select(v, 2, {0}); }, iota({4, 3}),
                  {"index_select", "dim 2", "4x3"});
}

TEST(ShapeGather, PicksAlongADimAsTorchGather) {
  Tape tape;
  Var x = tape.variable(tensor({{1, 2, 3}, {4, 5, 6}}));
  Var y = gather(x, 1, {2, 0, 1, 1}, {2, 2});
  EXPECT_EQ(y.sizes(), (Shape{2, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{3, 1, 5, 5}));
  Var z = gather(x, 0, {1, 0, 1}, {1, 3});
  EXPECT_EQ(values(z), (std::vector<float>{4, 2, 6}));
  tape.backward(add(sum(y), sum(z)));
  EXPECT_EQ(grads(x), (std::vector<float>{1, 1, 1, 1, 2, 1}));
}

TEST(ShapeGather, OnARank3InputWithASmallerIndex) {
  Tape tape;
  // out[i][j][k] = x[i][j][index[i][j][k]] with index 2x2x2 inside x 2x3x4.
  Var y = gather(tape.constant(iota(k234)), -1, {3, 0, 1, 1, 2, 2, 0, 3}, {2, 2, 2});
  EXPECT_EQ(y.sizes(), (Shape{2, 2, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{3, 0, 5, 5, 14, 14, 16, 19}));
  expect_gradient_correct(
      [](Var v) {
        return gather(v, 1, {2, 0, 1, 1, 0, 0, 2, 1}, {2, 2, 2});
      },
      random_nd(k234, 17));
}

TEST(ShapeGather, BadIndicesOrIndexShapesAreRefused) {
  const Tensor x = iota({2, 3});
  expect_rejected(
      [](Var v) {
        return gather(v, 1, {0, 3}, {2, 1});
      },
      x, {"gather", "index 3", "position 1", "size 3", "2x3"});
  expect_rejected([](Var v) { return gather(v, 1, {0, 1}, {2}); }, x, {"gather", "2x3", "rank"});
  expect_rejected([](Var v) { return gather(v, 1, {0, 1}, {3, 1}); }, x, {"gather", "3x1", "2x3"});
  expect_rejected(
      [](Var v) {
        return gather(v, 1, {0, 1, 2}, {2, 1});
      },
      x, {"gather", "3 indices", "2x1"});
  expect_rejected([](Var v) { return gather(v, -3, {0}, {1, 1}); }, x, {"gather", "dim -3", "2x3"});
}

// ---- pad ----

TEST(ShapePad, PadsTheLastDimFirstWithAConstant) {
  Tape tape;
  Var x = tape.constant(tensor({{1, 2, 3}, {4, 5, 6}}));
  Var y = pad(x, {1, 2}, -1.0f);
  EXPECT_EQ(y.sizes(), (Shape{2, 6}));
  EXPECT_EQ(values(y), (std::vector<float>{-1, 1, 2, 3, -1, -1, -1, 4, 5, 6, -1, -1}));
  Var z = pad(x, {0, 1, 1, 0});
  EXPECT_EQ(z.sizes(), (Shape{3, 4}));
  EXPECT_EQ(values(z), (std::vector<float>{0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0}));
  EXPECT_EQ(values(pad(x, {})), values(x));
}

TEST(ShapePad, OfARank4InputPadsHeightAndWidth) {
  Tape tape;
  Var y = pad(tape.constant(iota({1, 2, 1, 2})), {1, 0, 0, 1});
  EXPECT_EQ(y.sizes(), (Shape{1, 2, 2, 3}));
  EXPECT_EQ(values(y), (std::vector<float>{0, 0, 1, 0, 0, 0, 0, 2, 3, 0, 0, 0}));
}

TEST(ShapePad, GradientReachesOnlyTheInputAndBadPadListsAreRefused) {
  Tape tape;
  Var x = tape.variable(iota({2, 2}));
  tape.backward(sum(pad(x, {1, 1, 1, 1}, 5.0f)));
  EXPECT_EQ(grads(x), (std::vector<float>{1, 1, 1, 1}));
  expect_gradient_correct([](Var v) { return pad(v, {2, 1, 0, 1}); }, random_nd(k234, 18));
  expect_rejected([](Var v) { return pad(v, {1, 2, 3}); }, iota({2, 3}), {"pad", "3", "2x3"});
  expect_rejected(
      [](Var v) {
        return pad(v, {1, 1, 1, 1, 1, 1});
      },
      iota({2, 3}), {"pad", "6", "2x3", "at most 4"});
}

// ---- normalize_dim and the op state reused across steps ----

TEST(ShapeNormalizeDim, CountsNegativeDimsFromTheEndAndRefusesOthersNamingTheOp) {
  EXPECT_EQ(normalize_dim(-1, 3, "op"), 2u);
  EXPECT_EQ(normalize_dim(-3, 3, "op"), 0u);
  EXPECT_EQ(normalize_dim(2, 3, "op"), 2u);
  expect_error([] { normalize_dim(3, 3, "myop"); }, {"myop", "dim 3", "rank 3"});
  expect_error([] { normalize_dim(-4, 3, "myop"); }, {"myop", "dim -4", "rank 3"});
  expect_error([] { normalize_dim(0, 0, "myop"); }, {"myop", "dim 0", "rank 0"});
}

TEST(ShapeState, ASecondStepWithOtherShapesGivesFreshResults) {
  Tape tape;
  for (int step = 0; step < 3; ++step) {
    tape.clear();
    const bool big = step == 1;
    Var x = tape.variable(iota(big ? Shape{3, 4} : Shape{2, 3}));
    Var p = permute(x, {1, 0});
    Var s = slice(x, 1, 1, big ? 4 : 2);
    Var i =
        index_select(x, 0, big ? std::vector<std::int64_t>{2, 2} : std::vector<std::int64_t>{1});
    Var g = gather(x, 1, {0, 1}, {2, 1});
    Var q = pad(x, big ? std::vector<std::size_t>{1, 1} : std::vector<std::size_t>{0, 0, 1, 0});
    tape.backward(add(add(add(sum(p), sum(s)), add(sum(i), sum(g))), sum(q)));
    if (big) {
      EXPECT_EQ(values(p), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
      EXPECT_EQ(values(i), (std::vector<float>{8, 9, 10, 11, 8, 9, 10, 11}));
      EXPECT_EQ(q.sizes(), (Shape{3, 6}));
    } else {
      EXPECT_EQ(values(p), (std::vector<float>{0, 3, 1, 4, 2, 5}));
      EXPECT_EQ(values(i), (std::vector<float>{3, 4, 5}));
      EXPECT_EQ(q.sizes(), (Shape{3, 3}));
    }
    EXPECT_EQ(values(g), (std::vector<float>{0, big ? 5.0f : 4.0f}));
    EXPECT_EQ(x.grad().size(), big ? 12u : 6u);
  }
}
