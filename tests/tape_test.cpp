// How the tape works: record forward, walk back once, accumulate.
#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>

using namespace tg;

TEST(Backward, AValueUsedTwiceReceivesBothContributionsSoXTimesXPlusXHasGradient2XPlus1) {
  Tape tape;
  Var x = tape.variable(tensor({{-1.5f, 0.0f, 2.0f}}));
  Var y = add(mul(x, x), x);
  tape.backward(sum(y));
  for (std::size_t j = 0; j < 3; ++j) EXPECT_FLOAT_EQ(x.grad()(0, j), 2 * x.value()(0, j) + 1);
}

TEST(Backward, AChainOfOneHundredThousandOpsBackpropagatesWithoutRecursion) {
  Tape tape;
  Var x = tape.variable(tensor({{1.0f}}));
  Var y = x;
  for (int i = 0; i < 100000; ++i) y = scale(y, 1.0f);  // d y / d x = 1 through 100k entries
  tape.backward(y);
  EXPECT_EQ(tape.size(), 100001u);
  EXPECT_FLOAT_EQ(x.grad()(0, 0), 1.0f);
}

TEST(Backward, ConstantsNeedNoGradientAndOpsOnConstantsOnlyRecordNoBackward) {
  Tape tape;
  Var c = tape.constant(tensor({{1, 2}}));
  Var d = relu(c);
  EXPECT_FALSE(c.requires_grad());
  EXPECT_FALSE(d.requires_grad());
  EXPECT_THROW(tape.backward(sum(d)), Error);
}

TEST(Backward, ParameterGradientsAccumulateAcrossStepsUntilZeroGrad) {
  Parameter w(tensor({{2.0f}}), "w");
  for (int step = 0; step < 2; ++step) {
    Tape tape;
    tape.backward(mul(tape.param(w), tape.constant(tensor({{3.0f}}))));
  }
  EXPECT_FLOAT_EQ(w.grad(0, 0), 6.0f);  // 3 + 3
  w.zero_grad();
  EXPECT_FLOAT_EQ(w.grad(0, 0), 0.0f);
}

TEST(Backward, OnlyEntriesRecordedBeforeTheOutputContribute) {
  Tape tape;
  Var x = tape.variable(tensor({{2.0f}}));
  Var y = scale(x, 3.0f);
  scale(x, 100.0f);  // recorded after y: must not touch x's gradient for y
  tape.backward(y);
  EXPECT_FLOAT_EQ(x.grad()(0, 0), 3.0f);
}

TEST(Backward, ANonScalarOutputIsSeededWithTheGivenGradient) {
  Tape tape;
  Var x = tape.variable(tensor({{1, 2}, {3, 4}}));
  Var y = scale(x, 2.0f);
  tape.backward(y, tensor({{1, 0}, {0, 1}}));
  EXPECT_FLOAT_EQ(x.grad()(0, 0), 2.0f);
  EXPECT_FLOAT_EQ(x.grad()(0, 1), 0.0f);
  EXPECT_FLOAT_EQ(x.grad()(1, 1), 2.0f);
}

TEST(NoGrad, InsideTheScopeOpsComputeValuesButRecordNoWayBack) {
  Parameter w(tensor({{2.0f}}));
  Tape tape;
  Var y;
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(grad_enabled());
    y = mul(tape.param(w), tape.constant(tensor({{3.0f}})));
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_FLOAT_EQ(y.item(), 6.0f);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(tape.node(y.index()).backward, nullptr);
}

TEST(Tape, ClearKeepsEveryBufferSoTheNextStepOfTheSameShapesReusesItsMemory) {
  Parameter w(tensor({{1, 2}, {3, 4}}));
  Tape tape;
  const float* first_buffer = nullptr;
  for (int step = 0; step < 3; ++step) {
    tape.clear();
    Var h = relu(matmul(tape.constant(tensor({{1, 1}})), tape.param(w)));
    tape.backward(sum(h));
    if (step == 0) first_buffer = h.value().data();
    EXPECT_EQ(h.value().data(), first_buffer);
  }
}

TEST(TapeErrors, AVarFromBeforeClearIsRejectedWithAClearMessage) {
  Tape tape;
  Var x = tape.variable(tensor({{1.0f}}));
  Var loss = scale(x, 2.0f);
  tape.clear();
  try {
    tape.backward(loss);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("before tape.clear()"), std::string::npos) << e.what();
  }
}

TEST(TapeErrors, CallingBackwardTwiceOnOneRecordingIsAnError) {
  Tape tape;
  Var x = tape.variable(tensor({{1.0f}}));
  Var loss = scale(x, 2.0f);
  tape.backward(loss);
  EXPECT_THROW(tape.backward(loss), Error);
}

TEST(TapeErrors, MixingValuesFromTwoTapesNamesTheOp) {
  Tape a, b;
  Var x = a.variable(tensor({{1.0f}}));
  Var y = b.variable(tensor({{1.0f}}));
  try {
    add(x, y);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "add: an input was recorded on a different tape");
  }
}

TEST(TapeErrors, AnEmptyVarIsRejected) {
  Var empty;
  EXPECT_THROW(relu(empty), Error);
}

TEST(TapeErrors, BackwardOfANonScalarWithoutASeedNamesTheShape) {
  Tape tape;
  Var x = tape.variable(tensor({{1, 2}}));
  try {
    tape.backward(scale(x, 1.0f));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("1x2"), std::string::npos) << e.what();
  }
}
