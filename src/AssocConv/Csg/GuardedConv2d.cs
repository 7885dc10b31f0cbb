using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;

namespace AssocConv.Csg;

/// <summary>Puts a <see cref="ConvolutionInputGuard"/> in front of an ordinary <see cref="Conv2d"/>, once per
/// module.</summary>
public static class GuardedConv2d
{
    private static readonly ConditionalWeakTable<Conv2d, ConvolutionInputGuard> Guarded = new();

    /// <summary>
    /// Whether <paramref name="conv"/> reaches libtorch as <c>conv2d</c> with its own stride, padding, dilation and
    /// groups: explicit zero padding and not transposed ('same' padding and other modes take another path).
    /// </summary>
    public static bool ReachesConv2dAsIs(Conv2d conv) =>
        conv is { padding: not null, padding_mode: PaddingModes.Zeros, transposed: false };

    /// <summary>Runs <paramref name="guard"/> on the input of <paramref name="conv"/> before it convolves; a module
    /// already guarded, or one that does not reach <c>conv2d</c> as is, is left alone.</summary>
    public static void Attach(Conv2d conv, ConvolutionInputGuard guard)
    {
        if (!ReachesConv2dAsIs(conv) || !Guarded.TryAdd(conv, guard)) return;
        conv.register_forward_pre_hook((m, x) =>
        {
            var c = (Conv2d)m;
            return guard(x, c.weight!, c.stride, c.padding!, c.dilation, c.groups);
        });
    }
}
