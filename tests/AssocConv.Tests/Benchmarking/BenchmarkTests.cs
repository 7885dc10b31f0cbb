using System.Text.Json;
using AssocConv.Benchmarking;
using AssocConv.Data;
using AssocConv.Native;
using TorchSharp;
using AssocConv.Models;
using AssocConv.Tensors;

namespace AssocConv.Tests.Benchmarking;

public class BenchmarkTests
{
    [Fact]
    public void Flops_are_counted_per_layer_as_by_hand()
    {
        // small-cnn on 32x32x3: 2 * in * 3 * 3 * out * output pixels per convolution, 2 * 64 * 10 for the classifier
        double byHand = 2.0 * 3 * 9 * 16 * 32 * 32 + 2.0 * 16 * 9 * 32 * 16 * 16 + 2.0 * 32 * 9 * 32 * 16 * 16
            + 2.0 * 32 * 9 * 64 * 8 * 8 + 2.0 * 64 * 9 * 64 * 8 * 8 + 2.0 * 64 * 10;
        using var plain = ModelZoo.Create("small-cnn", new ModelOptions { Plain = true });
        using var associative = ModelZoo.Create("small-cnn");
        Assert.Equal(byHand, FlopCounter.ForwardFlopsPerImage(plain, 3, 32, 32));
        Assert.Equal(byHand, FlopCounter.ForwardFlopsPerImage(associative, 3, 32, 32));   // generation is not counted
        // the multiply-adds usually quoted for the CIFAR ResNets: 40.55 M (ResNet-20) and 125.49 M (ResNet-56)
        using var resnet20 = ModelZoo.Create("resnet20", new ModelOptions { Plain = true });
        Assert.InRange(FlopCounter.ForwardFlopsPerImage(resnet20, 3, 32, 32) / 2, 40.5e6, 40.6e6);
        using var resnet56 = ModelZoo.Create("resnet56", new ModelOptions { Plain = true });
        Assert.InRange(FlopCounter.ForwardFlopsPerImage(resnet56, 3, 32, 32) / 2, 125.4e6, 125.6e6);
    }

    [Fact]
    public void Medians_and_spreads()
    {
        var m = new Measurement([5, 1, 4, 2, 3]);
        Assert.Equal(3, m.Median);
        Assert.Equal(4.0 / 3, m.Spread, 12);
        Assert.Equal(2.5, new Measurement([4, 1, 3, 2]).Median);
    }

    [Fact]
    public void Bench_json_holds_one_object_per_model_with_the_promised_fields()
    {
        var (code, stdout, stderr) = TestSupport.RunCli("bench", "--models", "small-cnn", "--repetitions", "2",
            "--steps", "1", "--rounds", "2", "--round-steps", "2", "--batch-size", "16", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal("small-cnn", r.GetProperty("model").GetString());
        foreach (var field in new[] { "train_images_per_s_plain", "train_images_per_s_associative",
            "infer_images_per_s_plain",
                     "infer_images_per_s_cached", "infer_images_per_s_materialized", "generation_share",
                     "data_images_per_s", "matmul_gflops", "train_gflops_associative", "peak_rss_mb" })
            Assert.True(r.GetProperty(field).GetDouble() > 0, field);
        Assert.True(r.TryGetProperty("rss_growth_mb_per_round", out _));
        Assert.InRange(r.GetProperty("generation_share").GetDouble(), 0.0, 1.0);
        Assert.Equal(2, r.GetProperty("detail").GetProperty("train_plain").GetProperty("samples").GetArrayLength());
        Assert.Contains("small-cnn: training throughput", stderr);
        Assert.Equal("channels-last", r.GetProperty("memory_format").GetString());
        Assert.Equal("system", r.GetProperty("allocator").GetString());   // no preload in the test process
    }

    [Fact]
    public void Bench_onnx_times_both_runtimes_at_batch_1_and_the_batch_size()
    {
        var (code, stdout, stderr) =
            TestSupport.RunCli("bench", "--onnx", "--models", "small-cnn", "--repetitions", "3",
            "--steps", "2", "--batch-size", "16", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal([1, 16], rows.Select(r => r.GetProperty("batch_size").GetInt32()));
        foreach (var r in rows)
            foreach (var variant in new[] { "libtorch_cached", "libtorch_materialized", "onnx_materialized",
                "onnx_generator" })
            {
                var m = r.GetProperty(variant);
                Assert.Equal(3, m.GetProperty("samples").GetArrayLength());
                Assert.True(m.GetProperty("min").GetDouble() > 0, variant);
            }
        Assert.Contains("small-cnn: exporting both ONNX forms", stderr);
    }

    [Fact]
    public void The_onednn_switch_reaches_libtorch_and_changes_which_kernels_run()
    {
        Assert.True(OneDnn.IsAvailable,
            "libtorch_cpu 2.10 exports at::globalContext and setUserEnabledMkldnn on Linux");
        bool before = OneDnn.Enabled;
        Assert.True(before);   // libtorch's default
        using var x = torch.randn(2, 32, 12, 12).ToMemoryFormat(MemoryFormat.ChannelsLast);
        using var w = torch.randn(32, 32, 3, 3);
        try
        {
            using var withOneDnn = torch.nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
            OneDnn.Enabled = false;
            Assert.False(OneDnn.Enabled);
            using var without = torch.nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
            // the same convolution within float32 rounding, but not bit for bit: another kernel summed it
            Assert.True(TestSupport.MaxAbsDifference(withOneDnn, without) < 1e-3);
            Assert.True(TestSupport.MaxAbsDifference(withOneDnn, without) > 0,
                "the same bits with oneDNN off: the switch did not change the kernel");
        }
        finally
        {
            OneDnn.Enabled = before;
        }
        Assert.True(OneDnn.Enabled);
    }

    [Fact]
    public void The_sweep_times_every_setting_and_restores_threads_and_onednn()
    {
        int threads = torch.get_num_threads();
        var settings = SettingsSweep.AllSettings(2);
        Assert.Equal(8, settings.Count);   // 2 thread counts x 2 formats x oneDNN on/off
        Assert.Equal("1 thread, contiguous, oneDNN on, float32", settings[0].ToString());
        var withPrecisions = SettingsSweep.AllSettings(2, minThreads: 2,
            [ComputePrecision.Float32, ComputePrecision.BFloat16]);
        Assert.Equal(8, withPrecisions.Count);   // 1 thread count x 2 formats x oneDNN on/off x 2 precisions
        Assert.All(withPrecisions, s => Assert.Equal(2, s.Threads));
        var chosen = new[]
        {
            new RuntimeSetting(1, MemoryFormat.ChannelsLast, true),
                new RuntimeSetting(1, MemoryFormat.Contiguous, false),
            new RuntimeSetting(1, MemoryFormat.ChannelsLast, true, ComputePrecision.BFloat16),
        };
        var results = SettingsSweep.Run("small-cnn", new BenchmarkOptions { BatchSize = 8, Repetitions = 2, Steps = 1 },
            chosen);
        Assert.Equal(chosen, results.Select(r => r.Setting));
        Assert.All(results, r =>
        {
            Assert.Equal(2, r.TrainPlain.Samples.Count);
            Assert.All(r.TrainPlain.Samples.Concat(r.TrainAssociative.Samples), v => Assert.True(v > 0));
        });
        Assert.Equal(threads, torch.get_num_threads());
        Assert.True(OneDnn.Enabled);
        Assert.Throws<ArgumentException>(() => SettingsSweep.AllSettings(0));
        Assert.Throws<ArgumentException>(() => SettingsSweep.AllSettings(1, minThreads: 2));
    }

    [Fact]
    public void Bench_sweep_json_names_each_setting()
    {
        var (code, stdout, stderr) = TestSupport.RunCli("bench", "--models", "small-cnn", "--sweep", "--max-threads",
            "1", "--repetitions", "1", "--steps", "1", "--batch-size", "8", "--precisions", "float32,bf16", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(8, rows.Count);
        Assert.Equal(new[] { "contiguous", "contiguous", "contiguous", "contiguous", "channels-last", "channels-last",
            "channels-last", "channels-last" }, rows.Select(r => r.GetProperty("memory_format").GetString()));
        Assert.Equal(new[] { true, true, false, false, true, true, false, false },
            rows.Select(r => r.GetProperty("onednn").GetBoolean()));
        Assert.Equal(new[] { "float32", "bf16", "float32", "bf16", "float32", "bf16", "float32", "bf16" },
            rows.Select(r => r.GetProperty("precision").GetString()));
        Assert.All(rows, r => Assert.True(r.GetProperty("train_images_per_s_associative").GetDouble() > 0));

        var (bad, _, error) = TestSupport.RunCli("bench", "--models", "small-cnn", "--memory-format", "nwhc");
        Assert.Equal(2, bad);
        Assert.Contains("--memory-format", error);
        var (badPrecision, _,
            precisionError) = TestSupport.RunCli("bench", "--models", "small-cnn", "--sweep", "--precisions", "fp8");
        Assert.Equal(2, badPrecision);
        Assert.Contains("--precisions: 'fp8' is not a precision", precisionError);
    }
}
