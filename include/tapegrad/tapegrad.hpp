// The whole public API of tapegrad in one include (as torch/torch.h is for libtorch).
#pragma once

#include "tapegrad/core/rng.hpp"
#include "tapegrad/core/state_dict.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/threads.hpp"

#include "tapegrad/autograd/dot.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/parameter.hpp"
#include "tapegrad/autograd/tape.hpp"

#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/arith.hpp"
#include "tapegrad/ops/conv.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/normalization.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"

#include "tapegrad/nn/conv.hpp"
#include "tapegrad/nn/embedding.hpp"
#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/normalization.hpp"
#include "tapegrad/nn/predict.hpp"
#include "tapegrad/nn/recurrent.hpp"

#include "tapegrad/optim/optim.hpp"

#include "tapegrad/data/csv.hpp"
#include "tapegrad/data/data.hpp"
#include "tapegrad/data/idx.hpp"
#include "tapegrad/data/preprocess.hpp"
#include "tapegrad/io/checkpoint.hpp"
#include "tapegrad/io/model_file.hpp"
#include "tapegrad/io/onnx.hpp"
#include "tapegrad/train/train.hpp"

#include "tapegrad/dist/distributed.hpp"
