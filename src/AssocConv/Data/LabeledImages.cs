using static TorchSharp.torch;

namespace AssocConv.Data;

/// <summary>
/// A labelled image set held as one tensor: images <c>uint8 [N, C, H, W]</c>, labels <c>int64 [N]</c>.
/// The object owns both tensors.
/// </summary>
public sealed class LabeledImages : IDisposable
{
    /// <summary>Images, <c>uint8 [N, C, H, W]</c>.</summary>
    public Tensor Images { get; }

    /// <summary>Labels, <c>int64 [N]</c>, each in <c>[0, ClassNames.Count)</c>.</summary>
    public Tensor Labels { get; }

    /// <summary>Class names, by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Number of images.</summary>
    public long Count => Images.shape[0];

    /// <summary>Channels per image.</summary>
    public long Channels => Images.shape[1];

    /// <summary>Image height.</summary>
    public long Height => Images.shape[2];

    /// <summary>Image width.</summary>
    public long Width => Images.shape[3];

    /// <summary>Wraps <paramref name="images"/> and <paramref name="labels"/>, checking shapes, types and label
    /// range.</summary>
    /// <exception cref="ArgumentException">Shapes or types do not fit, or a label is out of range.</exception>
    public LabeledImages(Tensor images, Tensor labels, IReadOnlyList<string> classNames)
    {
        if (images.dtype != ScalarType.Byte || images.ndim != 4)
            throw new ArgumentException($"images must be uint8 [N, C, H, W], got {images.dtype} " +
                $"[{string.Join(", ", images.shape)}]");
        if (labels.dtype != ScalarType.Int64 || labels.ndim != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException($"labels must be int64 [{images.shape[0]}], got {labels.dtype} " +
                $"[{string.Join(", ", labels.shape)}]");
        if (classNames.Count < 1) throw new ArgumentException("at least one class name is needed");
        if (labels.numel() > 0)
        {
            long min = labels.min().item<long>(), max = labels.max().item<long>();
            if (min < 0 || max >= classNames.Count)
                throw new ArgumentException($"labels range over [{min}, {max}] but there are " +
                    $"{classNames.Count} classes");
        }
        Images = images;
        Labels = labels;
        ClassNames = classNames;
    }

    /// <summary>The images at <paramref name="indices"/> (an <c>int64</c> tensor), as a new set.</summary>
    public LabeledImages Select(Tensor indices) =>
        new(Images.index_select(0, indices), Labels.index_select(0, indices), ClassNames);

    /// <summary>The first <paramref name="count"/> images, as a new set.</summary>
    public LabeledImages Take(long count) =>
        new(Images.narrow(0, 0, Math.Min(count, Count)).clone(), Labels.narrow(0, 0, Math.Min(count, Count)).clone(),
            ClassNames);

    /// <summary>Images per class, by label.</summary>
    public long[] CountPerClass()
    {
        using var counts = Labels.bincount(null, ClassNames.Count);
        return counts.data<long>().ToArray();
    }

    /// <summary>Per-channel mean and standard deviation of the pixel values scaled to [0, 1].</summary>
    public (double[] Mean, double[] Std) ChannelStatistics()
    {
        using var scope = NewDisposeScope();
        var x = Images.to(float64).div_(255.0);
        var mean = x.mean(new long[] { 0, 2, 3 });
        var std = x.std(new long[] { 0, 2, 3 });
        return (mean.data<double>().ToArray(), std.data<double>().ToArray());
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
