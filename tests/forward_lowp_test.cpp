// forward with bf16 and f16 storage (fp32 compute, one rounding on store) against the double
// reference on the stored values, within SPEC 4 (bf16 2e-2, f16 4e-3), on every SIMD path:
// windows, both activations, ALiBi of both signs, sigmoid bias, RoPE of both pairings and
// partial, GQA and MQA, strided layouts, head dims off the SIMD width. bf16 runs both ways
// where the path has bf16 pair products (Options::bf16_products on and off).
#include "tester.hpp"

using swat::Activation, swat::Isa, swat::RopeLayout;
using swat_test::AttentionTester, swat_test::kActivations, swat_test::Layout, swat_test::product_settings;

TEMPLATE_TEST_CASE("forward in 16-bit storage matches the reference over windows, slopes, RoPE and GQA",
                   "[lowp]", swat::bf16, swat::f16) {
  struct Case {
    int64_t window, heads, kv_heads, dim;
    RopeLayout rope;
    int rope_dim;
    bool slopes;
    float bias;
    Layout layout;
  };
  const Case cases[] = {
      {0, 2, 2, 16, RopeLayout::none, 0, false, 0.f, Layout::bshd},
      {1, 2, 1, 16, RopeLayout::half, 0, true, 0.f, Layout::bshd},
      {17, 4, 2, 40, RopeLayout::half, 0, true, -1.f, Layout::transposed},
      {9, 4, 1, 12, RopeLayout::interleaved, 8, true, 0.5f, Layout::padded},
      {33, 8, 2, 64, RopeLayout::half, 32, true, 0.f, Layout::bhsd},
  };
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (bool products : product_settings<TestType>(isa))
    for (Activation act : kActivations)
      for (const Case& c : cases) {
        AttentionTester t;
        t.batch(2).q_len(70).heads(c.heads).kv_heads(c.kv_heads).dim(c.dim).window(c.window).activation(act)
            .rope(c.rope).rope_dim(c.rope_dim).sigmoid_bias(c.bias).layout(c.layout).isa(isa).bf16_products(products);
        if (c.slopes) t.slopes(swat::balanced_alibi_slopes(static_cast<int>(c.heads)));
        t.template test<TestType>();
      }
}

TEMPLATE_TEST_CASE("forward in 16-bit storage keeps RoPE accurate near position 2^40", "[lowp]", swat::bf16,
                   swat::f16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (bool products : product_settings<TestType>(isa))
    for (Activation act : kActivations) {
      AttentionTester t;
      t.q_len(40).heads(4).kv_heads(2).dim(32).window(16).activation(act).rope(RopeLayout::half)
          .slopes(swat::balanced_alibi_slopes(4)).k_pos0((int64_t(1) << 40) - 20).isa(isa).bf16_products(products);
      t.template test<TestType>();
    }
}

TEMPLATE_TEST_CASE("forward in 16-bit storage gives the same bits for 1 and 2 threads", "[lowp]", swat::bf16,
                   swat::f16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (bool products : product_settings<TestType>(isa)) {
    AttentionTester t;
    t.batch(2).q_len(300).heads(4).kv_heads(2).dim(40).window(50).rope(RopeLayout::half).isa(isa).bf16_products(products);
    const auto in = t.inputs<TestType>();
    CHECK(swat_test::same_bits(t.threads(1).output_for(in), t.threads(2).output_for(in)));
  }
}

TEST_CASE("forward<bf16> multiplies in bf16 pairs exactly where has_bf16_products says", "[lowp]") {
  const swat::Isa isa = GENERATE(swat_test::isas());
  AttentionTester t;
  t.q_len(90).heads(4).kv_heads(2).dim(40).window(37).rope(RopeLayout::half).slopes(swat::balanced_alibi_slopes(4))
      .isa(isa);
  const auto in = t.inputs<swat::bf16>();
  const auto on = t.bf16_products(true).output_for(in), off = t.bf16_products(false).output_for(in);
  swat_test::check_products_change_bits(on, off, isa, swat::Bf16Call::forward);
}
