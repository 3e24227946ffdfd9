// The training loop: by hand (the README's first example) and with tg::fit (the second),
// early stopping, and the progress bar's manners.
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

using namespace tg;
using test::expect_error;

namespace {
// Three Gaussian blobs in 2-D, stored as 1x2 "images" of bytes like MNIST is.
Dataset blobs(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "blobs";
  d.image_rows = 1;
  d.image_cols = 2;
  d.num_classes = 3;
  const float centres[3][2] = {{60, 60}, {190, 70}, {125, 190}};
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::int32_t>(rng.below(3));
    for (int k = 0; k < 2; ++k)
      d.pixels.push_back(
          static_cast<std::uint8_t>(std::clamp(rng.normal(centres[c][k], 18.0f), 0.0f, 255.0f)));
    d.labels.push_back(c);
  }
  return d;
}

}  // namespace

TEST(HandWrittenLoop, TheReadmeLoopTrainsAnMlpOnBlobs) {
  Dataset train_set = blobs(600, 1);
  // README: hand-written loop begin
  tg::Rng rng(0);
  tg::Sequential model;
  model.add<tg::Dense>(2, 16, rng);
  model.add<tg::ReLU>();
  model.add<tg::Dense>(16, 3, rng);
  tg::Adam optimizer(model.parameters(), tg::AdamOptions{1e-2});  // lr
  tg::BatchIterator batches(train_set, 32, /*shuffle=*/true, /*seed=*/0);
  tg::Tape tape;
  tg::Batch batch;

  for (int epoch = 0; epoch < 20; ++epoch) {
    batches.begin_epoch(epoch);
    while (batches.next(batch)) {
      tape.clear();           // reuses last step's buffers
      optimizer.zero_grad();  // backward accumulates: start from zero
      tg::Var logits = model(tape.constant(batch.images));
      tg::Var loss = tg::softmax_cross_entropy(logits, batch.labels);
      tape.backward(loss);  // fills every parameter's .grad
      optimizer.step();
    }
  }
  // README: hand-written loop end
  tg::BatchIterator all(train_set, 100, false, 0);
  EXPECT_GT(evaluate(model, all, {}, 3).accuracy, 0.97);
}

TEST(Fit, TheReadmeFitTrainsTheSameProblemAndReportsEveryEpoch) {
  Dataset train_set = blobs(600, 1), validation_set = blobs(300, 2);
  // README: fit begin
  tg::Rng rng(0);
  tg::Sequential model;
  model.add<tg::Dense>(2, 16, rng);
  model.add<tg::ReLU>();
  model.add<tg::Dense>(16, 3, rng);
  tg::Adam optimizer(model.parameters(), tg::AdamOptions{1e-2});  // lr
  tg::CosineAnnealing schedule(optimizer, /*t_max=*/20);
  tg::BatchIterator train(train_set, 32, true, 0), validation(validation_set, 100, false, 0);

  tg::FitOptions options;
  options.epochs = 20;
  options.schedule = &schedule;
  options.early_stopping_patience = 5;  // and restore the best epoch's weights
  tg::FitResult result = tg::fit(model, optimizer, train, &validation, options);
  // README: fit end
  ASSERT_FALSE(result.history.empty());
  EXPECT_GT(*result.history.back().validation_accuracy, 0.95);
  EXPECT_LT(result.history.back().train_loss, result.history.front().train_loss);
  EXPECT_NEAR(result.history.front().lr, 1e-2, 1e-9);  // lr in force during epoch 0
}

TEST(CustomLoss, TheReadmeHuberLossWithOperatorsMatchesTheBuiltInOneAndItsGradient) {
  tg::Tape tape;
  tg::Var prediction = tape.variable(test::random_tensor(8, 3, 31));
  tg::Tensor targets = test::random_tensor(8, 3, 32);
  for (float& v : targets) v *= 2.0f;  // errors on both sides of delta
  tg::Var target = tape.constant(targets);
  // README: huber loss begin
  // Quadratic within delta of the target, linear beyond it (torch.nn.HuberLoss).
  auto huber = [](tg::Var prediction, tg::Var target, float delta) {
    tg::Var error = tg::abs(prediction - target);
    tg::Var inside = tg::clamp_max(error, delta);  // min(|e|, delta)
    return tg::mean(0.5f * inside * inside + delta * (error - inside));
  };
  // README: huber loss end
  tg::Var loss = huber(prediction, target, 0.5f);
  tape.backward(loss);
  const tg::Tensor grad = prediction.grad();

  tg::Tape reference;
  tg::Var p = reference.variable(prediction.value());
  tg::Var built_in = tg::huber_loss(p, target.value(), tg::Reduction::mean, 0.5f);
  reference.backward(built_in);
  EXPECT_NEAR(loss.item(), built_in.item(), 1e-6);
  for (std::size_t i = 0; i < grad.size(); ++i)
    EXPECT_NEAR(grad.data()[i], p.grad().data()[i], 1e-6) << "element " << i;
  // Some errors fall on each side of delta, so both branches were exercised.
  std::size_t outside = 0;
  for (std::size_t i = 0; i < grad.size(); ++i)
    outside += std::fabs(prediction.value().data()[i] - target.value().data()[i]) > 0.5f;
  EXPECT_GT(outside, 0u);
  EXPECT_LT(outside, grad.size());
}

TEST(Readme, ShowsEveryExampleExactlyAsItIsCompiledHere) {
  const std::string readme = test::read_text(std::string(TAPEGRAD_SOURCE_DIR) + "/README.md");
  for (const char* name : {"hand-written loop", "fit", "huber loss"}) {
    const std::string snippet = test::readme_snippet("train_test.cpp", name);
    EXPECT_NE(readme.find(snippet), std::string::npos)
        << "README.md lacks the '" << name << "' example as compiled in tests/train_test.cpp:\n"
        << snippet;
  }
}

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovementAndRemembersTheBest) {
  EarlyStopping stopper(2);
  const double metrics[] = {5.0, 3.0, 3.5, 2.9, 3.0, 3.1, 1.0};
  std::vector<bool> stops;
  for (int e = 0; e < 7; ++e) stops.push_back(stopper.update(e, metrics[e]));
  EXPECT_EQ(stops, (std::vector<bool>{false, false, false, false, false, true, false}));
  EXPECT_EQ(stopper.best_epoch(), 6);  // it kept counting after the stop signal
}

TEST(EarlyStopping, ImprovementsSmallerThanMinDeltaDoNotCount) {
  EarlyStopping stopper(1, 0.1);
  EXPECT_FALSE(stopper.update(0, 1.0));
  EXPECT_TRUE(stopper.update(1, 0.95));
  EXPECT_EQ(stopper.best_epoch(), 0);
}

TEST(Fit, EarlyStoppingRestoresTheWeightsOfTheBestEpoch) {
  Dataset data = blobs(200, 3);
  Rng rng(0);
  Sequential model;
  model.add<Dense>(2, 8, rng);
  model.add<Tanh>();
  model.add<Dense>(8, 3, rng);
  SGD optimizer(model.parameters(), {.lr = 0.05});
  BatchIterator train(data, 50, true, 0);
  // A scripted metric: best at epoch 1, then worse for `patience` epochs.
  const double scripted[] = {4.0, 1.0, 2.0, 3.0, 5.0, 6.0};
  std::vector<Tensor> weights_after_epoch;
  FitOptions options;
  options.epochs = 6;
  options.early_stopping_patience = 3;
  options.progress = options.log_epochs = false;
  options.monitor = [&](const EpochMetrics& m) { return scripted[m.epoch]; };
  options.on_epoch = [&](const EpochMetrics&) {
    weights_after_epoch.push_back(model.parameters()[0]->value);
    return true;
  };
  FitResult result = fit(model, optimizer, train, nullptr, options);
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(result.best_epoch, 1);
  ASSERT_EQ(weights_after_epoch.size(), 5u);  // epochs 0..4, stopped after 3 bad ones
  EXPECT_EQ(model.parameters()[0]->value, weights_after_epoch[1]);
  EXPECT_NE(model.parameters()[0]->value, weights_after_epoch[4]);
}

TEST(Fit, AnOnEpochCallbackReturningFalseStopsTraining) {
  Dataset data = blobs(100, 4);
  Rng rng(0);
  Sequential model;
  model.add<Dense>(2, 3, rng);
  SGD optimizer(model.parameters(), {.lr = 0.01});
  BatchIterator train(data, 50, true, 0);
  FitOptions options;
  options.epochs = 10;
  options.progress = options.log_epochs = false;
  options.on_epoch = [](const EpochMetrics& m) { return m.epoch < 2; };
  EXPECT_EQ(fit(model, optimizer, train, nullptr, options).history.size(), 3u);
}

TEST(Fit, TheSameSeedGivesBitIdenticalWeights) {
  Dataset data = blobs(300, 5);
  std::vector<Tensor> finals;
  for (int run = 0; run < 2; ++run) {
    Rng rng(7);
    Sequential model;
    model.add<Dense>(2, 16, rng);
    model.add<ReLU>();
    model.add<Dropout>(0.2f, 3);
    model.add<Dense>(16, 3, rng);
    Adam optimizer(model.parameters());
    BatchIterator train(data, 32, true, 11);
    FitOptions options;
    options.epochs = 3;
    options.progress = options.log_epochs = false;
    fit(model, optimizer, train, nullptr, options);
    finals.push_back(model.parameters()[2]->value);
  }
  EXPECT_EQ(finals[0], finals[1]);
}

TEST(ProgressBar, DrawsNothingWhenTheStreamIsNotATerminal) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(ProgressBar::is_terminal(file));
  ProgressBar bar(100, "epoch 1/1", file);
  bar.update(50, 0.5);
  bar.update(100, 0.25);
  bar.finish();
  EXPECT_EQ(std::ftell(file), 0L);
  std::fclose(file);
}

TEST(Evaluate, CountsAccuracyAndFillsTheConfusionMatrixByTrueAndPredictedClass) {
  Dataset data = blobs(90, 6);
  Rng rng(0);
  Sequential model;
  model.add<Dense>(2, 3, rng, DenseOptions{.bias = false, .init = Init::zeros});  // all logits 0
  BatchIterator all(data, 40, false, 0);
  Evaluation e = evaluate(model, all, {}, 3);
  std::size_t class0 = 0;
  for (auto l : data.labels) class0 += l == 0;
  EXPECT_EQ(e.samples, 90u);
  EXPECT_NEAR(e.accuracy, class0 / 90.0, 1e-12);
  EXPECT_EQ(e.confusion[0][0], class0);
  EXPECT_EQ(e.confusion[1][0] + e.confusion[2][0], 90u - class0);
  EXPECT_NEAR(e.loss, std::log(3.0), 1e-6);  // all-zero logits: uniform prediction
}

namespace {
std::unique_ptr<Sequential> mnist_mlp() {
  Rng rng(0);
  auto model = std::make_unique<Sequential>();
  model->add<Dense>(784, 256, rng);
  model->add<ReLU>();
  model->add<Dropout>(0.1f, 5);
  model->add<Dense>(256, 128, rng);
  model->add<ReLU>();
  model->add<Dense>(128, 10, rng);
  return model;
}

FitOptions quiet(int epochs, int start_epoch = 0) {
  FitOptions options;
  options.epochs = epochs;
  options.start_epoch = start_epoch;
  options.progress = options.log_epochs = false;
  return options;
}
}  // namespace

TEST(Reproducibility, OneTwoAndThreeThreadsGiveBitIdenticalWeightsWithPartialLastBatches) {
  // 640 images: whole batches; 577, 584 and 639: a last batch of 1, 8 and 63 rows. (With
  // OPENBLAS_CORETYPE=Haswell, GEMM blocks cut by the thread count rounded differently from
  // the whole product; the blocks now depend on the shape alone.)
  for (std::size_t images : {640u, 577u, 584u, 639u}) {
    const Dataset data = test::random_digit_images(images, 1);
    StateDict finals[3];
    for (std::size_t threads : {1u, 2u, 3u}) {
      set_num_threads(threads);
      auto model = mnist_mlp();
      Adam optimizer(model->parameters());
      BatchIterator train(data, 64, true, 3);
      fit(*model, optimizer, train, nullptr, quiet(2));
      finals[threads - 1] = model_state(*model);
    }
    set_num_threads(1);
    for (int k : {1, 2})
      for (const auto& [name, t] : finals[0].tensors)
        EXPECT_EQ(t, finals[k].tensors.at(name))
            << name << ", " << images << " images, " << k + 1 << " threads";
  }
}

TEST(Reproducibility, SaveThenResumeEqualsAnUninterruptedRunBitForBit) {
  const Dataset data = test::random_digit_images(320, 2);
  const std::string path = std::string(TAPEGRAD_BINARY_DIR) + "/resume_test.tg";
  // Uninterrupted: 3 epochs.
  auto straight = mnist_mlp();
  Adam straight_opt(straight->parameters());
  CosineAnnealing straight_schedule(straight_opt, 3);
  BatchIterator train(data, 64, true, 4);
  FitOptions all = quiet(3);
  all.schedule = &straight_schedule;
  fit(*straight, straight_opt, train, nullptr, all);
  // Interrupted: 1 epoch, checkpoint to a file, new objects, 2 more epochs.
  {
    auto model = mnist_mlp();
    Adam opt(model->parameters());
    CosineAnnealing schedule(opt, 3);
    FitOptions first = quiet(1);
    first.schedule = &schedule;
    fit(*model, opt, train, nullptr, first);
    StateDict s;
    s.merge(model_state(*model), "model.");
    s.merge(opt.state(), "optimizer.");
    s.merge(schedule.state(), "schedule.");
    save_checkpoint(path, s);
  }
  auto resumed = mnist_mlp();
  Adam opt(resumed->parameters());
  CosineAnnealing schedule(opt, 3);
  const StateDict s = load_checkpoint(path);
  load_model_state(*resumed, s.with_prefix_removed("model."), path);
  opt.load_state(s.with_prefix_removed("optimizer."));
  schedule.load_state(s.with_prefix_removed("schedule."));
  FitOptions rest = quiet(3, /*start_epoch=*/1);
  rest.schedule = &schedule;
  fit(*resumed, opt, train, nullptr, rest);
  const StateDict a = model_state(*straight), b = model_state(*resumed);
  for (const auto& [name, t] : a.tensors) EXPECT_EQ(t, b.tensors.at(name)) << name;
  EXPECT_EQ(a.integers, b.integers);  // the dropout RNG too
  std::remove(path.c_str());
}

// ---- metrics ----

TEST(Metrics, AccuracyMaeRmseAndR2MatchHandComputedValues) {
  const Tensor scores = tensor({{1, 2, 0}, {3, 1, 0}, {0, 0, 5}, {1, 0, 0}});
  EXPECT_DOUBLE_EQ(accuracy(scores, {1, 0, 2, 2}), 0.75);
  // Errors -1, 0, 2, -4; targets 2 2 1 8 have mean 3.25 and SS_tot 30.75.
  const Tensor predictions = tensor({{1}, {2}, {3}, {4}}), targets = tensor({{2}, {2}, {1}, {8}});
  EXPECT_DOUBLE_EQ(mean_absolute_error(predictions, targets), 7.0 / 4.0);
  EXPECT_DOUBLE_EQ(root_mean_squared_error(predictions, targets), std::sqrt(21.0 / 4.0));
  EXPECT_NEAR(r2_score(predictions, targets), 1.0 - 21.0 / 30.75, 1e-12);
  // Two columns: R² is averaged over them (the second is predicted exactly).
  const Tensor p2 = tensor({{1, 5}, {2, 6}, {3, 7}, {4, 9}});
  const Tensor t2 = tensor({{2, 5}, {2, 6}, {1, 7}, {8, 9}});
  EXPECT_NEAR(r2_score(p2, t2), (1.0 - 21.0 / 30.75 + 1.0) / 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(mean_absolute_error(p2, t2), 7.0 / 8.0);
  // A constant target: 1 when predicted exactly, 0 otherwise.
  EXPECT_EQ(r2_score(tensor({{3}, {3}}), tensor({{3}, {3}})), 1.0);
  EXPECT_EQ(r2_score(tensor({{3}, {4}}), tensor({{3}, {3}})), 0.0);
  expect_error(
      [&] {
        r2_score(tensor({{1, 2}}), tensor({{1}, {2}}));
      },
      {"r2_score: predictions 1x2 and targets 2x1 differ in shape"});
  expect_error([&] { accuracy(scores, {1, 0}); }, {"accuracy: scores 4x3 are not 2 x classes"});
}

namespace {
// y = 2 x0 - x1 + offset on float samples x ~ uniform(-1, 1): a regression data set.
Dataset linear_data(std::size_t n, float offset, std::uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "linear";
  d.sample_shape = {2};
  for (std::size_t i = 0; i < n; ++i) {
    const float a = rng.uniform(-1, 1), b = rng.uniform(-1, 1);
    d.values.insert(d.values.end(), {a, b});
    d.targets.push_back(2 * a - b + offset);
  }
  return d;
}
}  // namespace

TEST(Fit, RegressionValidationMetricsAreComputedOnTheValidationTargets) {
  // The validation set's targets are offset by 5 from the training function: a validation
  // loss computed against training targets (the old bug) would be near the training loss.
  const Dataset train_set = linear_data(256, 0.0f, 1), validation_set = linear_data(64, 5.0f, 2);
  Rng rng(0);
  Sequential model;
  model.add<Dense>(2, 1, rng);
  Adam optimizer(model.parameters(), {.lr = 5e-2});
  BatchIterator train(train_set, 32, true, 0), validation(validation_set, 16, false, 0);
  FitOptions options = quiet(15);
  options.metrics = {{"max_error", [](const Predictions& p) {
                        double worst = 0;
                        for (std::size_t i = 0; i < p.targets.size(); ++i)
                          worst = std::max(
                              worst, std::fabs(double(p.outputs.data()[i]) - p.targets.data()[i]));
                        return worst;
                      }}};
  std::vector<double> hand_losses;
  options.on_epoch = [&](const EpochMetrics&) {
    // The validation MSE by hand, against the validation targets.
    Tape tape;
    NoGradGuard no_grad;
    const Tensor x = tensor(Shape{64, 2}, validation_set.values);
    const Tensor y = model(tape.constant(x)).value();
    double sum = 0;
    for (std::size_t i = 0; i < 64; ++i)
      sum += std::pow(y.data()[i] - validation_set.targets[i], 2);
    hand_losses.push_back(sum / 64);
    return true;
  };
  const FitResult result = fit(model, optimizer, train, &validation, options);
  ASSERT_EQ(result.history.size(), 15u);
  for (std::size_t e = 0; e < 15; ++e) {
    const EpochMetrics& m = result.history[e];
    EXPECT_NEAR(*m.validation_loss, hand_losses[e], 1e-4 * hand_losses[e]) << "epoch " << e;
    EXPECT_FALSE(m.validation_accuracy) << "no accuracy for a regression";
    EXPECT_NEAR(*find_metric(m.validation_metrics, "rmse"), std::sqrt(hand_losses[e]), 1e-4);
  }
  const EpochMetrics& last = result.history.back();
  EXPECT_LT(last.train_loss, 0.01);               // it learned the training function
  EXPECT_NEAR(*last.validation_loss, 25.0, 1.0);  // and is 5 off on every validation target
  EXPECT_NEAR(*find_metric(last.validation_metrics, "mae"), 5.0, 0.2);
  EXPECT_NEAR(*find_metric(last.validation_metrics, "max_error"), 5.0, 0.5);
  EXPECT_GT(*find_metric(last.train_metrics, "r2"), 0.99);
  EXPECT_TRUE(find_metric(last.train_metrics, "max_error"));
  const std::string line = format_epoch(last, 15);
  EXPECT_EQ(line.find("acc"), std::string::npos) << line;
  EXPECT_NE(line.find(" mae "), std::string::npos) << line;
  EXPECT_NE(line.find(" r2 "), std::string::npos) << line;
  EXPECT_NE(line.find(" max_error "), std::string::npos) << line;
}

TEST(Evaluate, TakesTheClassCountFromTheDataAndRefusesAModelThatDoesNotFit) {
  Dataset data = blobs(60, 7);  // 3 classes
  Rng rng(0);
  Sequential model;
  model.add<Dense>(2, 3, rng);
  BatchIterator all(data, 25, false, 0);
  const Evaluation e = evaluate(model, all);
  ASSERT_EQ(e.confusion.size(), 3u);
  std::size_t total = 0;
  for (const auto& row : e.confusion) {
    ASSERT_EQ(row.size(), 3u);
    for (std::size_t c : row) total += c;
  }
  EXPECT_EQ(total, 60u);
  EXPECT_FALSE(e.regression);
  EXPECT_EQ(e.metrics.size(), 1u);
  EXPECT_EQ(e.metrics[0].name, "accuracy");
  expect_error([&] { evaluate(model, all, {}, 10); },
               {"evaluate: 10 classes requested, but data set 'blobs' has 3"});
  Sequential ten;
  ten.add<Dense>(2, 10, rng);
  expect_error([&] { evaluate(ten, all); },
               {"evaluate on 'blobs': the model's output 25x10 does not fit 25 samples of 3"});
  Dataset unlabeled = data;
  unlabeled.labels.clear();
  BatchIterator none(unlabeled, 25, false, 0);
  expect_error([&] { evaluate(model, none); }, {"'blobs' has neither labels nor targets"});
}

TEST(Fit, RefusesAValidationSetOfAnotherTaskAndAnOutputOfTheWrongShape) {
  const Dataset regression = linear_data(32, 0, 3), classes = blobs(32, 3);
  Rng rng(0);
  Sequential model;
  model.add<Dense>(2, 1, rng);
  SGD optimizer(model.parameters(), {.lr = 0.01});
  BatchIterator train(regression, 8, false, 0), validation(classes, 8, false, 0);
  expect_error([&] { fit(model, optimizer, train, &validation, quiet(1)); },
               {"fit: the validation set 'blobs' (classification, 3) does not match the training "
                "set 'linear' (regression, 1)"});
  Sequential wide;
  wide.add<Dense>(2, 3, rng);
  SGD wide_optimizer(wide.parameters(), {.lr = 0.01});
  expect_error([&] { fit(wide, wide_optimizer, train, nullptr, quiet(1)); },
               {"the model's output 8x3 does not fit 8 samples of 1 targets"});
}

TEST(FormatEpoch, ShowsAccuracyForClassificationAndTheRegressionMetricsOtherwise) {
  EpochMetrics m;
  m.epoch = 2;
  m.train_loss = 0.1234;
  m.train_accuracy = 0.965;
  m.validation_loss = 0.2;
  m.validation_accuracy = 0.9;
  m.train_seconds = 1.5;
  m.samples_per_second = 100;
  EXPECT_EQ(format_epoch(m, 5),
            "epoch 3/5  train loss 0.1234 acc 0.9650  val loss 0.2000 acc 0.9000  1.50 s  100 "
            "samples/s");
  m.train_metrics = {{"mae", 0.5}, {"rmse", 0.75}, {"r2", 0.875}};
  m.validation_metrics = {{"mae", 1}, {"rmse", 2}, {"r2", 0.25}};
  m.validation_accuracy.reset();
  EXPECT_EQ(format_epoch(m, 5, "test"),
            "epoch 3/5  train loss 0.1234 mae 0.5000 rmse 0.7500 r2 0.8750  test loss 0.2000 mae "
            "1.0000 rmse 2.0000 r2 0.2500  1.50 s  100 samples/s");
}
