using AssocConv.Csg;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// A small CNN for quick experiments and tests (about 0.1 M parameters plain):
///
/// | layer  | output (32x32 input) | convolution                        |
/// |--------|----------------------|------------------------------------|
/// | conv1  | 16 x 32 x 32         | 3x3, ordinary (the first conv always is) |
/// | conv2  | 32 x 16 x 16         | 3x3, stride 2, associative         |
/// | conv3  | 32 x 16 x 16         | 3x3, associative                   |
/// | conv4  | 64 x 8 x 8           | 3x3, stride 2, associative         |
/// | conv5  | 64 x 8 x 8           | 3x3, associative                   |
/// | pool   | 64                   | global average                     |
/// | linear | classes              | fully connected                    |
///
/// Every convolution is followed by batch-norm and ReLU; with <see cref="ModelOptions.BatchNorm"/> off, by ReLU alone
/// (each batch-norm an identity). Any input size of at least 4x4 works.
/// ReLUs write over the batch-norm output in place, as torchvision's do: batch-norm's backward does not need it,
/// and a pass through fresh memory is spared (docs/benchmarks.md).
/// </summary>
public sealed class SmallCnn : nn.Module<Tensor, Tensor>
{
    /// <summary>Registry name.</summary>
    public const string Name = "small-cnn";

    /// <summary>Default generator: 8x8x3x3 slices, code size 32 (a generator sized for a small model).</summary>
    public static GeneratorOptions DefaultGenerator { get; } = new() { Slice = new SliceShape(8, 8), CodeSize = 32 };

    // fields typed Module<Tensor, Tensor> so Materializer can swap associative layers for plain ones
    private nn.Module<Tensor, Tensor> conv1, conv2, conv3, conv4, conv5;
    private readonly nn.Module<Tensor, Tensor> bn1, bn2, bn3, bn4, bn5;
    private readonly Linear linear;
    private ConvolutionalSliceGenerator? CSG;

    /// <summary>Builds the model.</summary>
    public SmallCnn(ModelOptions options) : base(Name)
    {
        var b = new ConvolutionBuilder(Name, options, DefaultGenerator);
        CSG = b.Generator;
        conv1 = ConvolutionBuilder.Ordinary(options.InputChannels, 16, 3, padding: 1);
        conv2 = b.Conv("conv2", 16, 32, 3, stride: 2, padding: 1, generated: true);
        conv3 = b.Conv("conv3", 32, 32, 3, padding: 1, generated: true);
        conv4 = b.Conv("conv4", 32, 64, 3, stride: 2, padding: 1, generated: true);
        conv5 = b.Conv("conv5", 64, 64, 3, padding: 1, generated: true);
        bn1 = Norm(options, 16);
        bn2 = Norm(options, 32);
        bn3 = Norm(options, 32);
        bn4 = Norm(options, 64);
        bn5 = Norm(options, 64);
        linear = nn.Linear(64, b.NumClasses);
        RegisterComponents();
    }

    private static nn.Module<Tensor, Tensor> Norm(ModelOptions options, long channels) =>
        options.BatchNorm ? nn.BatchNorm2d(channels) : nn.Identity();

    /// <summary>Class scores <c>[batch, classes]</c> for images <c>[batch, channels, height, width]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var together = this.GenerateKernelsTogether(CSG);
        x = bn1.call(conv1.call(x)).relu_();
        x = bn2.call(conv2.call(x)).relu_();
        x = bn3.call(conv3.call(x)).relu_();
        x = bn4.call(conv4.call(x)).relu_();
        x = bn5.call(conv5.call(x)).relu_();
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return linear.call(x).MoveToOuterDisposeScope();
    }
}
