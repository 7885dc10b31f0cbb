using AssocConv.Csg;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// Builds a model's convolutions: associative ones from the model's generator, or ordinary ones in the
/// plain counterpart, so one architecture description serves both variants.
/// </summary>
public sealed class ConvolutionBuilder
{
    /// <summary>The model's generator, or null when the model is plain.</summary>
    public ConvolutionalSliceGenerator? Generator { get; }

    /// <summary>Creates the builder for a model named <paramref name="model"/> from its options.</summary>
    /// <param name="model">The model's name, for messages.</param>
    /// <param name="options">The model's options.</param>
    /// <param name="defaults">The architecture's default generator options.</param>
    public ConvolutionBuilder(string model, ModelOptions options, GeneratorOptions defaults)
    {
        options.Validate(model);
        if (options.Plain)
        {
            return;
        }
        var wanted = options.Generator ?? options.SharedGenerator?.Options ?? defaults;
        if (options.SharedGenerator is { } shared)
        {
            shared.EnsureCompatible(wanted, model);
            Generator = shared;
        }
        else
        {
            Generator = new ConvolutionalSliceGenerator(wanted);
        }
    }

    /// <summary>
    /// A convolution without bias: associative when <paramref name="associative"/> is true and the model
    /// is not plain, ordinary otherwise.
    /// </summary>
    public nn.Module<Tensor, Tensor> Conv(string name, long inChannels, long outChannels, long kernelSize,
        long stride = 1, long padding = 0, long groups = 1, bool associative = true)
    {
        if (associative && Generator is { } generator)
            return new AssociativeConv2d(generator, inChannels, outChannels, kernelSize, stride, padding,
                groups: groups, name: name);
        return nn.Conv2d(inChannels, outChannels, kernelSize, stride, padding, groups: groups, bias: false);
    }
}
