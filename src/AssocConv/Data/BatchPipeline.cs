using AssocConv.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Data;

/// <summary>One mini-batch: normalised <c>float32 [B, C, H, W]</c> images and <c>int64 [B]</c> labels; owns
/// both.</summary>
/// <param name="Images">Normalised images.</param>
/// <param name="Labels">Labels.</param>
public sealed record Batch(Tensor Images, Tensor Labels) : IDisposable
{
    /// <summary>Images in the batch.</summary>
    public long Size => Labels.shape[0];

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// Mini-batches from a <see cref="LabeledImages"/> held as one <c>uint8</c> tensor: shuffled from the seed
/// and the epoch, augmented as whole batches on tensors (random crop with 4-pixel zero padding, horizontal
/// flip, optionally cutout), normalised and laid out in the chosen <see cref="MemoryFormat"/>.
/// </summary>
/// <remarks>
/// Everything random comes from a generator seeded by (seed, epoch), so an epoch's batches are the same
/// whether the run went through the epochs before it or resumed from a checkpoint.
/// Batches are made on the calling thread, not ahead on a worker: libtorch's OpenMP threads belong to the
/// thread that calls it, so tensor work on a second thread leaves more OpenMP threads than cores, libgomp
/// then stops spin-waiting between parallel regions, and training ran about 10% slower for the rest of the
/// process (measured on 2 cores). Making a batch takes under 1% of a training step.
/// </remarks>
public sealed class BatchPipeline
{
    private readonly LabeledImages _data;
    private readonly Normalization _normalization;
    private readonly Device _device;

    /// <summary>Images per batch (the last batch of an epoch may be smaller).</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch visits the images in a new random order.</summary>
    public bool Shuffle { get; }

    /// <summary>Whether batches are randomly cropped (4-pixel zero padding) and flipped.</summary>
    public bool Augment { get; }

    /// <summary>Side of the square cutout blanks in every augmented image (0: none).</summary>
    public int Cutout { get; }

    /// <summary>The seed every epoch's randomness derives from.</summary>
    public long Seed { get; }

    /// <summary>How the batches' images are laid out in memory (the values do not depend on it).</summary>
    public MemoryFormat Format { get; }

    /// <summary>Batches per epoch.</summary>
    public long BatchesPerEpoch => (_data.Count + BatchSize - 1) / BatchSize;

    /// <summary>Creates the pipeline.</summary>
    /// <param name="data">The images.</param>
    /// <param name="normalization">What they are normalised with.</param>
    /// <param name="batchSize">Images per batch.</param>
    /// <param name="shuffle">A new random order every epoch.</param>
    /// <param name="augment">Random crop (4-pixel zero padding) and horizontal flip.</param>
    /// <param name="seed">The seed every epoch's randomness derives from.</param>
    /// <param name="device">Where batches go.</param>
    /// <param name="format">How batches are laid out.</param>
    /// <param name="cutout">With <paramref name="augment"/>, the side of a square set to the mean (0 after
    /// normalisation) around a random centre of each image, clipped at the borders (DeVries and Taylor's cutout); 0:
    /// none.</param>
    /// <exception cref="ArgumentException">A batch size below 1, a normalisation for another number of channels, or
    /// a cutout without augmentation or below 0.</exception>
    public BatchPipeline(LabeledImages data, Normalization normalization, int batchSize, bool shuffle, bool augment,
        long seed, Device? device = null, MemoryFormat format = MemoryFormat.Contiguous, int cutout = 0)
    {
        if (batchSize < 1) throw new ArgumentException($"batch size must be at least 1, got {batchSize}");
        if (cutout < 0 || (cutout > 0 && !augment))
            throw new ArgumentException($"cutout is part of the augmentation: a side of 0 or more with it, got " +
                $"{cutout}");
        if (normalization.Channels != data.Channels)
            throw new ArgumentException($"normalisation for {normalization.Channels} channels, images have " +
                $"{data.Channels}");
        _data = data;
        _normalization = normalization;
        _device = device ?? CPU;
        BatchSize = batchSize;
        Shuffle = shuffle;
        Augment = augment;
        Cutout = cutout;
        Seed = seed;
        Format = format;
    }

    /// <summary>
    /// The batches of epoch <paramref name="epoch"/> (0-based), from batch <paramref name="startBatch"/> on
    /// (the skipped ones draw their random numbers all the same, so the rest are what they would have been).
    /// The caller disposes each batch.
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch, long startBatch = 0)
    {
        using var generator = new Generator(unchecked((ulong)(Seed * 1_000_003L + epoch)));
        using var order = Shuffle ? randperm(_data.Count, generator: generator) : arange(_data.Count, dtype: int64);
        for (long b = 0; b < Math.Min(startBatch, BatchesPerEpoch); b++)
            if (Augment)
            {
                var (offsets, flips) = DrawAugmentation(BatchLength(b), generator);
                offsets.Dispose();
                flips.Dispose();
                if (Cutout > 0) DrawCentres(BatchLength(b), generator).Dispose();
            }
        for (long b = startBatch; b < BatchesPerEpoch; b++)
            yield return Make(order, b, generator);
    }

    private long BatchLength(long batch) => Math.Min(BatchSize, _data.Count - batch * BatchSize);

    private Batch Make(Tensor order, long batch, Generator generator)
    {
        using var scope = NewDisposeScope();
        long start = batch * BatchSize, size = BatchLength(batch);
        var indices = order.narrow(0, start, size);
        var images = _data.Images.index_select(0, indices);
        var labels = _data.Labels.index_select(0, indices);
        if (Augment) images = CropAndFlip(images, generator);
        // laid out while still bytes (a quarter of the float copy); normalising keeps the layout
        var x = Normalize(images.to(_device).ToMemoryFormat(Format));
        if (Cutout > 0) x = x.masked_fill_(CutoutMask(DrawCentres(size, generator), Cutout, x.shape[2], x.shape[3])
            .to(_device), 0);
        return new Batch(x.MoveToOuterDisposeScope(), labels.to(_device).MoveToOuterDisposeScope());
    }

    private const int Padding = 4;

    /// <summary>Vertical and horizontal offsets (<c>[2, n]</c>, 0 to 8) and flip flags (<c>[n]</c>, 0 or 1) for
    /// <paramref name="n"/> images.</summary>
    private static (Tensor Offsets, Tensor Flips) DrawAugmentation(long n, Generator generator) =>
        (randint(0, 2 * Padding + 1, new[] { 2, n }, generator: generator),
            randint(0, 2, new[] { n }, generator: generator));

    /// <summary>Pads every image by 4 zero pixels, cuts a random window of the original size, flips half of
    /// them.</summary>
    internal static Tensor CropAndFlip(Tensor images, Generator generator)
    {
        const int padding = Padding;
        long n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        var padded = nn.functional.pad(images, new long[] { padding, padding, padding, padding });
        var (offsets, flips) = DrawAugmentation(n, generator);
        var dy = offsets[0];
        var dx = offsets[1];
        var flip = flips.to(ScalarType.Bool);
        var rows = (dy.unsqueeze(1) + arange(h)).view(n, 1, h, 1).expand(n, c, h, w + 2 * padding);
        var cropped = padded.gather(2, rows);
        var cols = (dx.unsqueeze(1) + arange(w)).view(n, 1, 1, w).expand(n, c, h, w);
        cropped = cropped.gather(3, cols);
        return where(flip.view(n, 1, 1, 1), cropped.flip(3), cropped);
    }

    // drawn after the crop and flip of the same batch, so a pipeline without cutout draws what it always did
    private Tensor DrawCentres(long n, Generator generator) =>
        stack([randint(0, _data.Height, new[] { n }, generator: generator),
            randint(0, _data.Width, new[] { n }, generator: generator)]);

    /// <summary>Where each image's cutout square lies (<c>[n, 1, h, w]</c>, true inside): side <paramref
    /// name="side"/> around the centres <paramref name="centres"/> (<c>[2, n]</c>), clipped at the
    /// borders.</summary>
    internal static Tensor CutoutMask(Tensor centres, int side, long h, long w)
    {
        using var scope = NewDisposeScope();
        long n = centres.shape[1];
        var top = (centres[0] - side / 2).view(n, 1);
        var left = (centres[1] - side / 2).view(n, 1);
        var rows = arange(h).view(1, h);
        var cols = arange(w).view(1, w);
        var inRows = rows.ge(top).logical_and(rows.lt(top + side));
        var inCols = cols.ge(left).logical_and(cols.lt(left + side));
        return inRows.view(n, 1, h, 1).logical_and(inCols.view(n, 1, 1, w)).MoveToOuterDisposeScope();
    }

    /// <summary><c>(x / 255 - mean) / std</c> per channel, as <c>float32</c>.</summary>
    public Tensor Normalize(Tensor images)
    {
        using var scope = NewDisposeScope();
        long c = images.shape[1];
        var mean = tensor(_normalization.Mean.Select(m => (float)m).ToArray(), device: images.device).view(1, c, 1, 1);
        var std = tensor(_normalization.Std.Select(s => (float)s).ToArray(), device: images.device).view(1, c, 1, 1);
        return images.to(float32).div_(255f).sub_(mean).div_(std).MoveToOuterDisposeScope();
    }
}
