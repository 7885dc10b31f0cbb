// 2-d convolutions (fp32, NHWC activations, OIHW weights, no bias) on oneDNN 2.x, the version Debian's
// PyTorch 1.13 links, for bench/AssocConv.OneDnn26: forward, data gradient and weight gradient, each a
// oneDNN primitive created once per shape. Weights are reordered to the layout each primitive chose at every
// call (a few microseconds at these sizes), so the caller may change them between calls.
// Build: g++ -O2 -shared -fPIC onednn26_conv.cpp -o libonednn26_conv.so -ldnnl   (Debian: libdnnl-dev)
#include <dnnl.hpp>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

struct Shape {
    long n, c, h, w, o, k, stride, pad;
    bool operator<(const Shape &r) const {
        return std::tie(n, c, h, w, o, k, stride, pad) < std::tie(r.n, r.c, r.h, r.w, r.o, r.k, r.stride, r.pad);
    }
};

struct Convolution {
    memory::desc src, dst, weights_oihw;
    dnnl::convolution_forward forward;
    dnnl::convolution_backward_data backward_data;
    dnnl::convolution_backward_weights backward_weights;
    memory forward_weights, data_weights, weight_gradient;   // in the layouts the primitives chose
};

dnnl::engine &engine() { static dnnl::engine e(dnnl::engine::kind::cpu, 0); return e; }
dnnl::stream &stream() { static dnnl::stream s(engine()); return s; }
std::mutex lock;
std::map<Shape, std::unique_ptr<Convolution>> cache;
thread_local std::string last_error;

Convolution &get(const Shape &s) {
    auto found = cache.find(s);
    if (found != cache.end()) return *found->second;
    auto c = std::make_unique<Convolution>();
    long oh = (s.h + 2 * s.pad - s.k) / s.stride + 1, ow = (s.w + 2 * s.pad - s.k) / s.stride + 1;
    c->src = memory::desc({s.n, s.c, s.h, s.w}, memory::data_type::f32, Tag::nhwc);
    c->dst = memory::desc({s.n, s.o, oh, ow}, memory::data_type::f32, Tag::nhwc);
    c->weights_oihw = memory::desc({s.o, s.c, s.k, s.k}, memory::data_type::f32, Tag::oihw);
    memory::desc any_weights({s.o, s.c, s.k, s.k}, memory::data_type::f32, Tag::any);
    memory::dims strides{s.stride, s.stride}, padding{s.pad, s.pad};
    auto alg = dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::primitive_desc fwd(
        {dnnl::prop_kind::forward_training, alg, c->src, any_weights, c->dst, strides, padding, padding}, engine());
    dnnl::convolution_backward_data::primitive_desc bwd_data(
        {alg, c->src, any_weights, c->dst, strides, padding, padding}, engine(), fwd);
    dnnl::convolution_backward_weights::primitive_desc bwd_weights(
        {alg, c->src, any_weights, c->dst, strides, padding, padding}, engine(), fwd);
    c->forward = dnnl::convolution_forward(fwd);
    c->backward_data = dnnl::convolution_backward_data(bwd_data);
    c->backward_weights = dnnl::convolution_backward_weights(bwd_weights);
    c->forward_weights = memory(fwd.weights_desc(), engine());
    c->data_weights = memory(bwd_data.weights_desc(), engine());
    c->weight_gradient = memory(bwd_weights.diff_weights_desc(), engine());
    return *cache.emplace(s, std::move(c)).first->second;
}

template <typename F> int guarded(F f) {
    try {
        std::lock_guard<std::mutex> guard(lock);
        f();
        stream().wait();
        return 0;
    } catch (const std::exception &e) {
        last_error = e.what();
        return 1;
    }
}

}  // namespace

extern "C" {

const char *onednn26_last_error() { return last_error.c_str(); }

int onednn26_version() { auto v = dnnl_version(); return v->major * 10000 + v->minor * 100 + v->patch; }

int onednn26_forward(float *x, float *weights, float *y, long n, long c, long h, long w, long o, long k, long stride, long pad) {
    return guarded([&] {
        auto &conv = get({n, c, h, w, o, k, stride, pad});
        memory user_weights(conv.weights_oihw, engine(), weights);
        memory src(conv.src, engine(), x), dst(conv.dst, engine(), y);
        dnnl::reorder(user_weights, conv.forward_weights).execute(stream(), user_weights, conv.forward_weights);
        conv.forward.execute(stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, conv.forward_weights}, {DNNL_ARG_DST, dst}});
    });
}

int onednn26_backward_data(float *dy, float *weights, float *dx, long n, long c, long h, long w, long o, long k, long stride, long pad) {
    return guarded([&] {
        auto &conv = get({n, c, h, w, o, k, stride, pad});
        memory user_weights(conv.weights_oihw, engine(), weights);
        memory diff_src(conv.src, engine(), dx), diff_dst(conv.dst, engine(), dy);
        dnnl::reorder(user_weights, conv.data_weights).execute(stream(), user_weights, conv.data_weights);
        conv.backward_data.execute(stream(), {{DNNL_ARG_DIFF_SRC, diff_src}, {DNNL_ARG_WEIGHTS, conv.data_weights}, {DNNL_ARG_DIFF_DST, diff_dst}});
    });
}

int onednn26_backward_weights(float *x, float *dy, float *dweights, long n, long c, long h, long w, long o, long k, long stride, long pad) {
    return guarded([&] {
        auto &conv = get({n, c, h, w, o, k, stride, pad});
        memory user_gradient(conv.weights_oihw, engine(), dweights);
        memory src(conv.src, engine(), x), diff_dst(conv.dst, engine(), dy);
        conv.backward_weights.execute(stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_WEIGHTS, conv.weight_gradient}, {DNNL_ARG_DIFF_DST, diff_dst}});
        dnnl::reorder(conv.weight_gradient, user_gradient).execute(stream(), conv.weight_gradient, user_gradient);
    });
}

}
