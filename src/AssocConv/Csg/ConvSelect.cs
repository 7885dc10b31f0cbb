using System.Text.RegularExpressions;
using TorchSharp.Modules;

namespace AssocConv.Csg;

/// <summary>One ordinary convolution of a model, as <see cref="Associator.Associate"/> offers it to a selection
/// predicate.</summary>
/// <param name="Path">Its module path, e.g. <c>stage_1.0.conv_a</c>.</param>
/// <param name="Index">Its position among the model's convolutions in module order (0 is the first
/// convolution).</param>
/// <param name="Conv">The convolution.</param>
public sealed record ConvCandidate(string Path, int Index, Conv2d Conv)
{
    /// <summary>Kernel height and width.</summary>
    public (long Height, long Width) KernelSize => (Conv.kernel_size[0], Conv.kernel_size[1]);

    /// <summary>Channel groups (<c>InChannels</c> for a depthwise convolution).</summary>
    public long Groups => Conv.groups;

    /// <summary>Input channels.</summary>
    public long InChannels => Conv.in_channels;

    /// <summary>Output channels.</summary>
    public long OutChannels => Conv.out_channels;
}

/// <summary>Ready-made selections for <see cref="Associator.Associate"/>; combine them with <see
/// cref="And"/>.</summary>
public static class ConvSelect
{
    /// <summary>Every convolution but the model's first (which, by the method's rule, stays ordinary).</summary>
    public static Func<ConvCandidate, bool> AllButFirst { get; } = c => c.Index > 0;

    /// <summary>Convolutions with a square kernel of <paramref name="size"/>.</summary>
    public static Func<ConvCandidate, bool> Kernel(long size) => c => c.KernelSize == (size, size);

    /// <summary>Convolutions with <paramref name="groups"/> channel groups (1: ordinary, not grouped or
    /// depthwise).</summary>
    public static Func<ConvCandidate, bool> Groups(long groups) => c => c.Groups == groups;

    /// <summary>Convolutions whose module path matches the regular expression <paramref name="pattern"/>.</summary>
    public static Func<ConvCandidate, bool> PathMatches(string pattern)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        return c => regex.IsMatch(c.Path);
    }

    /// <summary>Convolutions every one of <paramref name="predicates"/> selects.</summary>
    public static Func<ConvCandidate, bool> And(params Func<ConvCandidate, bool>[] predicates) =>
        c => predicates.All(p => p(c));
}
