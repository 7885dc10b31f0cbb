using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Tensors;

/// <summary>How a batch of images <c>[N, C, H, W]</c> is laid out in memory; the shape and values are the
/// same.</summary>
public enum MemoryFormat
{
    /// <summary>Row-major <c>N, C, H, W</c> (strides <c>CHW, HW, W, 1</c>).</summary>
    Contiguous,

    /// <summary>
    /// Channels innermost, <c>N, H, W, C</c> in memory (strides <c>HWC, 1, WC, C</c>), as PyTorch's
    /// <c>torch.channels_last</c>. libtorch's oneDNN convolutions take this layout without reordering, and
    /// their output keeps it, as do batch norm, ReLU, additions and pooling: an input in this format makes
    /// the whole network run channels-last, with no reordering around each convolution (docs/benchmarks.md).
    /// </summary>
    ChannelsLast,
}

/// <summary>
/// Channels-last tensors from C#: TorchSharp 0.107 has no <c>memory_format</c> argument, but a tensor is
/// channels-last exactly when its strides are, and a permute to <c>N, H, W, C</c>, a contiguous copy and
/// the inverse permute give those strides. libtorch recognises the layout by the strides.
/// </summary>
public static class MemoryFormats
{
    /// <summary>
    /// <paramref name="images"/> (<c>[N, C, H, W]</c>) in <paramref name="format"/>: a new tensor with the same
    /// values (no copy when already so laid out). Tensors of other ranks are returned as a new handle unchanged.
    /// The caller owns the result.
    /// </summary>
    public static Tensor ToMemoryFormat(this Tensor images, MemoryFormat format)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.ndim != 4) return images.alias();
        return format switch
        {
            MemoryFormat.Contiguous => images.contiguous(),
            MemoryFormat.ChannelsLast => ChannelsLast(images),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown memory format"),
        };
    }

    private static Tensor ChannelsLast(Tensor images)
    {
        if (IsChannelsLast(images)) return images.alias();
        using var nhwc = images.permute(0, 2, 3, 1);
        using var dense = nhwc.contiguous();
        return dense.permute(0, 3, 1, 2);
    }

    /// <summary>
    /// Whether <paramref name="t"/> is a 4-d tensor laid out <c>N, H, W, C</c> (strides of size-1 dimensions
    /// do not matter, as in libtorch; a tensor with one channel or one pixel may be both formats).
    /// </summary>
    public static bool IsChannelsLast(this Tensor t) => HasStrides(t, [0, 2, 3, 1]);

    /// <summary>Whether <paramref name="t"/> is a 4-d tensor laid out <c>N, C, H, W</c> (size-1 dimensions
    /// ignored).</summary>
    public static bool IsContiguousNchw(this Tensor t) => HasStrides(t, [0, 1, 2, 3]);

    /// <summary>The format <paramref name="t"/> is laid out in, or null when it is neither (e.g. a strided
    /// slice).</summary>
    public static MemoryFormat? FormatOf(Tensor t) =>
        t.IsContiguousNchw() ? MemoryFormat.Contiguous : t.IsChannelsLast() ? MemoryFormat.ChannelsLast : null;

    /// <summary>Whether the strides are those of a dense tensor whose dimensions, outermost first, are <paramref
    /// name="order"/>.</summary>
    private static bool HasStrides(Tensor t, int[] order)
    {
        if (t.ndim != 4) return false;
        var shape = t.shape;
        var strides = t.stride();
        long expected = 1;
        for (int k = order.Length - 1; k >= 0; k--)
        {
            int d = order[k];
            if (shape[d] != 1 && strides[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /// <summary>Parses <c>contiguous</c> or <c>channels-last</c> (as the CLI and JSON spell them).</summary>
    /// <exception cref="ArgumentException">Any other text.</exception>
    public static MemoryFormat Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "contiguous" or "nchw" => MemoryFormat.Contiguous,
        "channels-last" or "channels_last" or "nhwc" => MemoryFormat.ChannelsLast,
        _ => throw new ArgumentException($"unknown memory format '{text}': expected contiguous or channels-last"),
    };

    /// <summary>The spelling <see cref="Parse"/> reads back.</summary>
    public static string Name(this MemoryFormat format) => format switch
    {
        MemoryFormat.Contiguous => "contiguous",
        MemoryFormat.ChannelsLast => "channels-last",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown memory format"),
    };
}
