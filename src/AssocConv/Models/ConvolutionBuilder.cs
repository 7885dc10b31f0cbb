using AssocConv.Csg;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// Builds a model's convolutions: associative ones from the model's generator where the selection asks
/// for them, ordinary ones elsewhere and in the plain counterpart, so one architecture description
/// serves every variant.
/// </summary>
public sealed class ConvolutionBuilder
{
    /// <summary>The model's generator, or null when the model is plain.</summary>
    public ConvolutionalSliceGenerator? Generator { get; }

    /// <summary>Which convolutions are associative.</summary>
    public AssociativeSelection Selection { get; }

    /// <summary>Number of classes the classifier predicts (the option, or the architecture's default).</summary>
    public int NumClasses { get; }

    /// <summary>Creates the builder for a model named <paramref name="model"/> from its options.</summary>
    /// <param name="model">The model's name, for messages.</param>
    /// <param name="options">The model's options.</param>
    /// <param name="defaults">The architecture's default generator options.</param>
    /// <param name="defaultClasses">The architecture's default number of classes.</param>
    public ConvolutionBuilder(string model, ModelOptions options, GeneratorOptions defaults, int defaultClasses = 10)
    {
        options.Validate(model);
        Selection = options.Selection;
        NumClasses = options.NumClasses ?? defaultClasses;
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
    /// A convolution without bias, associative when the model is not plain and the selection takes it:
    /// <see cref="AssociativeSelection.Reference"/> takes those marked <paramref name="generated"/> (the
    /// reference implementation generates them), <see cref="AssociativeSelection.All3x3"/> every 3x3 one,
    /// <see cref="AssociativeSelection.All"/> every one.
    /// </summary>
    public nn.Module<Tensor, Tensor> Conv(string name, long inChannels, long outChannels, long kernelSize,
        long stride = 1, long padding = 0, long groups = 1, bool generated = false)
    {
        bool associative = Selection switch
        {
            AssociativeSelection.Reference => generated,
            AssociativeSelection.All3x3 => kernelSize == 3,
            _ => true,
        };
        if (associative && Generator is { } generator)
            return new AssociativeConv2d(generator, inChannels, outChannels, kernelSize, stride, padding,
                groups: groups, name: name);
        return Ordinary(inChannels, outChannels, kernelSize, stride, padding, groups);
    }

    /// <summary>An ordinary convolution without bias, whatever the selection (e.g. a model's first
    /// convolution).</summary>
    public static Conv2d Ordinary(long inChannels, long outChannels, long kernelSize, long stride = 1,
        long padding = 0, long groups = 1) =>
        nn.Conv2d(inChannels, outChannels, kernelSize, stride, padding, groups: groups, bias: false);

    /// <summary>
    /// When <paramref name="conv"/> is associative, moves its code to <paramref name="host"/> as
    /// <paramref name="name"/> (the reference's parameter name, e.g. <c>code2</c>) and returns it for
    /// the host's field of that name; null otherwise. See <see cref="AssociativeConv2d.HostCodeIn"/>.
    /// </summary>
    public static Parameter? HostCode(nn.Module host, nn.Module conv, string name) =>
        conv is AssociativeConv2d layer ? layer.HostCodeIn(host, name) : null;
}
