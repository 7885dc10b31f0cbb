using AssocConv.Csg;
using AssocConv.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Tests.Csg;

public class ParameterReportTests
{
    // SmallCnn by hand: convs 3->16 (ordinary), 16->32, 32->32, 32->64, 64->64 (associative), all 3x3 without bias;
    // batch-norm after each; linear 64->10.
    private const long FirstConv = 3 * 16 * 9;
    private const long BatchNorm = 2 * (16 + 32 + 32 + 64 + 64);
    private const long Linear = 64 * 10 + 10;
    private const long PlainKernels = (16 * 32 + 32 * 32 + 32 * 64 + 64 * 64) * 9;

    private static long Slices(int inC, int outC, int s) => ((outC + s - 1) / s) * ((inC + s - 1) / s);

    [Fact]
    public void Plain_small_cnn_counts_match_the_architecture_table()
    {
        var report = ParameterReport.Of(new SmallCnn(new ModelOptions { Plain = true }));
        Assert.Equal(FirstConv + PlainKernels, report.Groups[ParameterGroup.Convolution].Trainable);
        Assert.Equal(BatchNorm, report.Groups[ParameterGroup.BatchNorm].Trainable);
        Assert.Equal(Linear, report.Groups[ParameterGroup.Linear].Trainable);
        Assert.Equal(0, report.Groups[ParameterGroup.Generator].Total);
        Assert.Equal(FirstConv + PlainKernels + BatchNorm + Linear, report.Trainable);
        Assert.Equal(report.Trainable, report.PlainTrainable);
        Assert.Equal(BatchNorm, report.RunningStatistics);   // mean + var, as many as weight + bias
    }

    [Fact]
    public void Associative_small_cnn_counts_generator_once_and_codes_per_slice()
    {
        var options = new GeneratorOptions { Slice = new SliceShape(12, 12), CodeSize = 72 };
        var report = ParameterReport.Of(new SmallCnn(new ModelOptions { Generator = options }));
        long codes = 72 * (Slices(16, 32, 12) + Slices(32, 32, 12) + Slices(32, 64, 12) + Slices(64, 64, 12));
        Assert.Equal(12 * 12 * 9 * 72, report.Groups[ParameterGroup.Generator].Trainable);
        Assert.Equal(codes, report.Groups[ParameterGroup.Codes].Trainable);
        Assert.Equal(FirstConv, report.Groups[ParameterGroup.Convolution].Trainable);
        Assert.Equal(4, report.AssociativeLayers);
        Assert.Equal(1, report.Generators);
        Assert.Equal(12 * 12 * 9 * 72 + codes + FirstConv + BatchNorm + Linear, report.Trainable);
        // the plain counterpart's count, computed without building it, equals the built one
        Assert.Equal(ParameterReport.Of(new SmallCnn(new ModelOptions { Plain = true })).Trainable,
            report.PlainTrainable);
        Assert.Equal((double)report.PlainTrainable / report.Trainable, report.Ratio, 12);
    }

    [Fact]
    public void A_frozen_generator_is_counted_as_frozen_and_the_plain_counterpart_trains_full_kernels()
    {
        var options = new GeneratorOptions { Slice = new SliceShape(8, 8), CodeSize = 16, Init = GeneratorInit.Binary };
        var report = ParameterReport.Of(new SmallCnn(new ModelOptions { Generator = options }));
        Assert.Equal(0, report.Groups[ParameterGroup.Generator].Trainable);
        Assert.Equal(8 * 8 * 9 * 16, report.Groups[ParameterGroup.Generator].Frozen);
        Assert.Equal(8 * 8 * 9 * 16, report.Frozen);
        Assert.Equal(FirstConv + PlainKernels + BatchNorm + Linear, report.PlainTrainable);
    }

    [Fact]
    public void A_generator_registered_under_every_block_is_counted_once()
    {
        // as the reference registers it: the same generator module under several parents
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(4, 4), CodeSize = 3 });
        var block1 = nn.Sequential(("CSG", g), ("conv", new AssociativeConv2d(g, 4, 4, 3)));
        var block2 = nn.Sequential(("CSG", g), ("conv", new AssociativeConv2d(g, 4, 8, 3)));
        var model = nn.Sequential(("CSG", g), ("b1", block1), ("b2", block2));
        var report = ParameterReport.Of(model);
        Assert.Equal(4 * 4 * 9 * 3, report.Groups[ParameterGroup.Generator].Trainable);
        Assert.Equal(3 * (1 + 2), report.Groups[ParameterGroup.Codes].Trainable);
        Assert.Equal(1, report.Generators);
    }

    [Fact]
    public void A_generator_shared_from_a_model_with_another_slice_shape_is_refused()
    {
        var other = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(16, 16),
            CodeSize = 72 });
        var e = Assert.Throws<ArgumentException>(() => new SmallCnn(new ModelOptions
        {
            Generator = new GeneratorOptions { Slice = new SliceShape(12, 12), CodeSize = 72 },
            SharedGenerator = other,
        }));
        Assert.Contains("small-cnn", e.Message);
        Assert.Contains("16x16x3x3", e.Message);
    }

    [Fact]
    public void Two_models_sharing_one_generator_use_the_same_weight()
    {
        var first = new SmallCnn(new ModelOptions());
        var g = first.modules().OfType<ConvolutionalSliceGenerator>().Single();
        var second = new SmallCnn(new ModelOptions { SharedGenerator = g.Freeze() });
        var g2 = second.modules().OfType<ConvolutionalSliceGenerator>().Single();
        Assert.Same(g, g2);
        Assert.Equal(0, ParameterReport.Of(second).Groups[ParameterGroup.Generator].Trainable);
    }
}
