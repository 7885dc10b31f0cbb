using System.Text.Json;
using AssocConv.Benchmarking;
using AssocConv.Models;

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
        var (code, stdout, stderr) = TestSupport.RunCli("bench", "--models", "small-cnn", "--repetitions", "2", "--steps", "1",
            "--rounds", "2", "--round-steps", "2", "--batch-size", "16", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal("small-cnn", r.GetProperty("model").GetString());
        foreach (var field in new[] { "train_images_per_s_plain", "train_images_per_s_associative", "infer_images_per_s_plain",
                     "infer_images_per_s_cached", "infer_images_per_s_materialized", "generation_share", "data_images_per_s",
                     "matmul_gflops", "train_gflops_associative", "peak_rss_mb" })
            Assert.True(r.GetProperty(field).GetDouble() > 0, field);
        Assert.True(r.TryGetProperty("rss_growth_mb_per_round", out _));
        Assert.InRange(r.GetProperty("generation_share").GetDouble(), 0.0, 1.0);
        Assert.Equal(2, r.GetProperty("detail").GetProperty("train_plain").GetProperty("samples").GetArrayLength());
        Assert.Contains("small-cnn: training throughput", stderr);
    }
}
