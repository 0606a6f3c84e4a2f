// train_tiny: a small model trained end to end on swat's forward and backward, to show the paper's
// ablation on your own machine in well under two minutes.
//
// Task (delayed copy): each sequence is random tokens; at position t the model must output the
// token seen `delay` positions earlier. The delay is longer than the window, so no single layer
// can see the answer: one layer must carry a token forward part of the way and the next layer
// must fetch it from there (information hops through layers, as in SWAT's long-context argument).
//
// Model: token embedding (plus one constant feature, so attention can be purely positional),
// `layers` pre-projection attention blocks x += Wo * attention(Wq x, Wk x, Wv x) with residuals,
// and an output projection to the vocabulary; cross-entropy; hand-written Adam. Positions come
// only from RoPE and ALiBi. The same training runs for three attention variants:
//   SWAT              sigmoid + balanced ALiBi (slopes learned through dslopes) + RoPE
//   softmax SWA       softmax + RoPE (Mistral-style sliding window)
//   sigmoid, no ALiBi sigmoid + RoPE only
#include <swat/swat.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int kVocab = 16;
constexpr int kModel = 32;  // d_model = heads * head_dim
constexpr int kHeads = 4;
constexpr int kHeadDim = kModel / kHeads;
constexpr int kLayers = 2;
constexpr int kWindow = 8;  // each layer sees 7 positions back
constexpr int kDelay = 12;  // > window: needs two hops
constexpr int kSeq = 64;    // 8 windows long
constexpr int kBatch = 16;
constexpr int kSteps = 400;

using Matrix = std::vector<float>;  // row-major

// c[m x n] (+)= op(a) * op(b), op(a) m x k (a^T when ta: a is k x m), op(b) k x n (b^T when tb).
// Loop orders keep the innermost loop contiguous.
void matmul(const float* a, const float* b, float* c, int m, int k, int n, bool ta, bool tb, bool accumulate) {
  if (!accumulate) std::fill(c, c + m * n, 0.f);
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * n;
    if (tb) {
      for (int j = 0; j < n; ++j) {
        float sum = 0.f;
        for (int p = 0; p < k; ++p) sum += (ta ? a[p * m + i] : a[i * k + p]) * b[j * k + p];
        ci[j] += sum;
      }
    } else {
      for (int p = 0; p < k; ++p) {
        const float aip = ta ? a[p * m + i] : a[i * k + p];
        const float* bp = b + p * n;
        for (int j = 0; j < n; ++j) ci[j] += aip * bp[j];
      }
    }
  }
}

// One trainable tensor with its gradient and Adam moments.
struct Param {
  std::vector<float> value, grad, m, v;
  explicit Param(std::size_t n = 0, float scale = 0.f, std::mt19937* rng = nullptr)
      : value(n), grad(n), m(n), v(n) {
    std::normal_distribution<float> dist(0.f, 1.f);
    for (float& x : value) x = rng ? scale * dist(*rng) : scale;
  }
  void adam(float lr, int step) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.f - std::pow(b1, float(step)), c2 = 1.f - std::pow(b2, float(step));
    for (std::size_t i = 0; i < value.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * grad[i];
      v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
      value[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);
      grad[i] = 0.f;
    }
  }
};

struct Variant {
  const char* name;
  swat::Activation activation;
  bool alibi;
};

struct Layer {
  Param wq, wk, wv, wo, slopes;
  // Saved for backward: input, projections, attention output.
  Matrix x, q, k, v, o;
};

class Model {
 public:
  Model(const Variant& variant, uint64_t seed) : variant_(variant), rng_(seed) {
    embed_ = Param(kVocab * kModel, 1.f, &rng_);
    out_ = Param(kModel * kVocab, 1.f / std::sqrt(float(kModel)), &rng_);
    for (int l = 0; l < kLayers; ++l) {
      Layer layer{Param(kModel * kModel, 1.f / std::sqrt(float(kModel)), &rng_),
                  Param(kModel * kModel, 1.f / std::sqrt(float(kModel)), &rng_),
                  Param(kModel * kModel, 1.f / std::sqrt(float(kModel)), &rng_),
                  Param(kModel * kModel, 0.5f / std::sqrt(float(kModel)), &rng_), Param(kHeads), {}, {}, {}, {}, {}};
      if (variant.alibi) layer.slopes.value = swat::balanced_alibi_slopes(kHeads);
      layers_.push_back(std::move(layer));
    }
  }

  swat::Options options(const Layer& layer) const {
    swat::Options opt;
    opt.window = kWindow;
    opt.activation = variant_.activation;
    opt.rope = swat::RopeLayout::half;
    if (variant_.alibi) opt.alibi_slopes = layer.slopes.value;
    // Sigmoid rows need not sum to 1; an offset of -log(window) starts them near an average.
    if (variant_.activation == swat::Activation::sigmoid) opt.sigmoid_bias = -std::log(float(kWindow));
    return opt;
  }

  // Loss (mean cross-entropy over positions with a target) and accuracy; with `train`, also the
  // gradients of every parameter.
  std::pair<double, double> step(const std::vector<int>& tokens, bool train) {
    const int rows = kBatch * kSeq;
    Matrix x(rows * kModel);
    for (int r = 0; r < rows; ++r)
      for (int d = 0; d < kModel; ++d) x[r * kModel + d] = embed_.value[tokens[r] * kModel + d];
    for (int r = 0; r < rows; ++r) x[r * kModel + kModel - 1] = 1.f;  // the constant feature
    for (Layer& layer : layers_) {
      layer.x = x;
      layer.q.resize(x.size());
      layer.k.resize(x.size());
      layer.v.resize(x.size());
      layer.o.resize(x.size());
      matmul(x.data(), layer.wq.value.data(), layer.q.data(), rows, kModel, kModel, false, false, false);
      matmul(x.data(), layer.wk.value.data(), layer.k.data(), rows, kModel, kModel, false, false, false);
      matmul(x.data(), layer.wv.value.data(), layer.v.data(), rows, kModel, kModel, false, false, false);
      swat::forward<float>(view(layer.q), view(layer.k), view(layer.v), view(layer.o), options(layer));
      matmul(layer.o.data(), layer.wo.value.data(), x.data(), rows, kModel, kModel, false, false, true);
    }
    Matrix logits(rows * kVocab);
    matmul(x.data(), out_.value.data(), logits.data(), rows, kModel, kVocab, false, false, false);

    double loss = 0.0;
    int counted = 0, correct = 0;
    Matrix dlogits(logits.size(), 0.f);
    for (int b = 0; b < kBatch; ++b)
      for (int t = kDelay; t < kSeq; ++t) {
        const int r = b * kSeq + t, target = tokens[r - kDelay];
        float* z = logits.data() + r * kVocab;
        const float top = *std::max_element(z, z + kVocab);
        double total = 0.0;
        for (int c = 0; c < kVocab; ++c) total += std::exp(double(z[c] - top));
        loss += std::log(total) - double(z[target] - top);
        correct += std::max_element(z, z + kVocab) - z == target;
        ++counted;
        for (int c = 0; c < kVocab; ++c) dlogits[r * kVocab + c] = float(std::exp(double(z[c] - top)) / total);
        dlogits[r * kVocab + target] -= 1.f;
      }
    for (float& g : dlogits) g /= float(counted);
    if (!train) return {loss / counted, double(correct) / counted};

    Matrix dx(x.size());
    matmul(x.data(), dlogits.data(), out_.grad.data(), kModel, rows, kVocab, true, false, true);
    matmul(dlogits.data(), out_.value.data(), dx.data(), rows, kVocab, kModel, false, true, false);
    Matrix dout(x.size()), dq(x.size()), dk(x.size()), dv(x.size());
    for (int l = kLayers - 1; l >= 0; --l) {
      Layer& layer = layers_[l];
      // x_out = x_in + o Wo: the residual passes dx through unchanged.
      matmul(layer.o.data(), dx.data(), layer.wo.grad.data(), kModel, rows, kModel, true, false, true);
      matmul(dx.data(), layer.wo.value.data(), dout.data(), rows, kModel, kModel, false, true, false);
      swat::backward<float>(view(layer.q), view(layer.k), view(layer.v), view(layer.o), view(dout), view(dq), view(dk),
                            view(dv), options(layer), variant_.alibi ? layer.slopes.grad.data() : nullptr);
      for (auto [w, g] : {std::pair{&layer.wq, &dq}, std::pair{&layer.wk, &dk}, std::pair{&layer.wv, &dv}}) {
        matmul(layer.x.data(), g->data(), w->grad.data(), kModel, rows, kModel, true, false, true);
        matmul(g->data(), w->value.data(), dx.data(), rows, kModel, kModel, false, true, true);
      }
    }
    for (int r = 0; r < rows; ++r)
      for (int d = 0; d < kModel - 1; ++d) embed_.grad[tokens[r] * kModel + d] += dx[r * kModel + d];
    return {loss / counted, double(correct) / counted};
  }

  void update(float lr, int step) {
    embed_.adam(lr, step);
    out_.adam(lr, step);
    for (Layer& layer : layers_) {
      for (Param* p : {&layer.wq, &layer.wk, &layer.wv, &layer.wo}) p->adam(lr, step);
      if (variant_.alibi) layer.slopes.adam(lr, step);
    }
  }

  std::vector<float> slopes(int layer) const { return layers_[layer].slopes.value; }

 private:
  static swat::View4<float> view(Matrix& m) { return swat::bshd(m.data(), kBatch, kSeq, kHeads, kHeadDim); }

  Variant variant_;
  std::mt19937 rng_;
  Param embed_, out_;
  std::vector<Layer> layers_;
};

std::vector<int> sample(std::mt19937& rng) {
  std::uniform_int_distribution<int> token(0, kVocab - 1);
  std::vector<int> tokens(kBatch * kSeq);
  for (int& t : tokens) t = token(rng);
  return tokens;
}

}  // namespace

int main() {
  std::printf("train_tiny: delayed copy (output the token %d positions back) with window %d, %d layers,\n"
              "d_model %d, %d heads, sequences of %d, batch %d, %d Adam steps. Chance accuracy: %.1f%%.\n\n",
              kDelay, kWindow, kLayers, kModel, kHeads, kSeq, kBatch, kSteps, 100.0 / kVocab);
  const Variant variants[] = {{"SWAT (sigmoid + balanced ALiBi + RoPE)", swat::Activation::sigmoid, true},
                              {"softmax SWA (+ RoPE)", swat::Activation::softmax, false},
                              {"sigmoid without ALiBi (+ RoPE)", swat::Activation::sigmoid, false}};
  std::vector<std::pair<std::string, double>> results;
  for (const Variant& variant : variants) {
    const auto start = std::chrono::steady_clock::now();
    Model model(variant, 42);
    std::mt19937 data(7);
    std::printf("%s\n  step   loss\n", variant.name);
    double running = 0.0;
    for (int step = 1; step <= kSteps; ++step) {
      const float lr = 3e-3f * std::min(1.f, float(step) / 50.f);
      running += model.step(sample(data), true).first;
      model.update(lr, step);
      if (step % 100 == 0) {
        std::printf("  %4d  %.3f\n", step, running / 100);
        running = 0.0;
      }
    }
    std::mt19937 held_out(12345);
    double accuracy = 0.0;
    for (int batch = 0; batch < 8; ++batch) accuracy += model.step(sample(held_out), false).second / 8;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("  held-out accuracy %.1f%% (%.1f s)\n", 100 * accuracy, seconds);
    if (variant.alibi) {
      for (int l = 0; l < kLayers; ++l) {
        std::printf("  learned slopes, layer %d:", l);
        for (float m : model.slopes(l)) std::printf(" %+.3f", m);
        std::printf("\n");
      }
    }
    std::printf("\n");
    results.emplace_back(variant.name, accuracy);
  }
  std::printf("Summary (held-out accuracy):\n");
  for (const auto& [name, accuracy] : results) std::printf("  %-40s %5.1f%%\n", name.c_str(), 100 * accuracy);
  return 0;
}
