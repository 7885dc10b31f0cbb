using AssocConv.Data;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Data;

public class BatchPipelineTests
{
    /// <summary>n images of 2x6x6 whose pixels encode (image, channel, row, column), all in 1..255.</summary>
    private static LabeledImages Images(int n)
    {
        var pixels = new byte[n * 2 * 6 * 6];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(1 + i % 250);
        var labels = Enumerable.Range(0, n).Select(i => (long)(i % 3)).ToArray();
        return new LabeledImages(tensor(pixels, new long[] { n, 2, 6, 6 }), tensor(labels), ["a", "b", "c"]);
    }

    private static readonly Normalization Identity = new([0.0, 0.0],
        [1.0 / 255, 1.0 / 255]);   // x / 255 * 255: pixel values back

    private static List<(double[] X, long[] Y)> Collect(BatchPipeline p, int epoch, long start = 0) =>
        p.Epoch(epoch, start).Select(b => { using (b) return (Values(b.Images),
            b.Labels.data<long>().ToArray()); }).ToList();

    [Fact]
    public void Each_epoch_visits_every_image_once_in_an_order_from_the_seed()
    {
        using var data = Images(10);
        var p = new BatchPipeline(data, Identity, 4, shuffle: true, augment: false, seed: 3);
        Assert.Equal(3, p.BatchesPerEpoch);
        var first = Collect(p, 0);
        Assert.Equal(new[] { 4, 4, 2 }, first.Select(b => b.Y.Length));
        // images come back unchanged (the identity normalisation), each exactly once
        var seen = first.SelectMany(b => b.X.Chunk(72)).Select(x => (int)Math.Round(x[0])).OrderBy(v => v).ToArray();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => 1 + i * 72 % 250).OrderBy(v => v), seen);
        Assert.Equal(first.SelectMany(b => b.Y),
            Collect(p, 0).SelectMany(b => b.Y));           // same seed, same epoch: same order
        Assert.NotEqual(first.SelectMany(b => b.X),
            Collect(p, 1).SelectMany(b => b.X));      // next epoch: another order
        var other = new BatchPipeline(data, Identity, 4, shuffle: true, augment: false, seed: 4);
        Assert.NotEqual(first.SelectMany(b => b.X), Collect(other, 0).SelectMany(b => b.X));
    }

    [Fact]
    public void Starting_mid_epoch_gives_the_batches_the_whole_epoch_would_have_given()
    {
        using var data = Images(11);
        var p = new BatchPipeline(data, Identity, 3, shuffle: true, augment: true, seed: 5);
        var whole = Collect(p, 2);
        var rest = Collect(p, 2, start: 2);
        Assert.Equal(whole.Skip(2).Select(b => b.X), rest.Select(b => b.X));
        Assert.Equal(whole.Skip(2).Select(b => b.Y), rest.Select(b => b.Y));
    }

    [Fact]
    public void Augmentation_is_a_window_of_the_zero_padded_image_flipped_or_not()
    {
        using var data = Images(64);
        var p = new BatchPipeline(data, Identity, 64, shuffle: false, augment: true, seed: 7);
        var batch = p.Epoch(0).Single();
        using var _ = batch;
        int flipped = 0, shifted = 0;
        for (int i = 0; i < 64; i++)
        {
            using var original = data.Images[i].to(float32);
            using var padded = nn.functional.pad(original.unsqueeze(0), new long[] { 4, 4, 4, 4 }).squeeze(0);
            using var got = batch.Images[i];
            bool found = false;
            for (int dy = 0; dy <= 8 && !found; dy++)
                for (int dx = 0; dx <= 8 && !found; dx++)
                    for (int f = 0; f < 2 && !found; f++)
                    {
                        using var window = padded.narrow(1, dy, 6).narrow(2, dx, 6);
                        using var candidate = f == 1 ? window.flip(2) : window.alias();
                        if (MaxAbsDifference(candidate, got) < 1e-3)
                        {
                            found = true;
                            flipped += f;
                            if (dy != 4 || dx != 4) shifted++;
                        }
                    }
            Assert.True(found, $"image {i} is not a crop of its padded original");
        }
        Assert.InRange(flipped, 16, 48);    // about half
        Assert.InRange(shifted, 48, 64);    // 80 of 81 windows are shifted
    }

    [Fact]
    public void Cutout_blanks_one_square_per_image_in_every_channel_and_leaves_the_crops_and_flips_alone()
    {
        using var data = Images(64);
        using var plain = new BatchPipeline(data, Identity, 64, shuffle: true, augment: true, seed: 7).Epoch(1)
            .Single();
        using var cut = new BatchPipeline(data, Identity, 64, shuffle: true, augment: true, seed: 7, cutout: 4)
            .Epoch(1).Single();
        Assert.Equal(plain.Labels.data<long>().ToArray(), cut.Labels.data<long>().ToArray());
        var corners = new HashSet<(long, long)>();
        for (int i = 0; i < 64; i++)
        {
            using var changed = cut.Images[i].ne(plain.Images[i]);
            // only blanked pixels change, and the same ones in both channels
            Assert.Equal(0.0, cut.Images[i].masked_select(changed).abs().sum().item<float>());
            Assert.True(changed[0].eq(changed[1]).all().item<bool>(), $"image {i}: the channels were blanked " +
                "differently");
            using var where = changed[0].nonzero();
            if (where.shape[0] == 0) continue;   // the square fell on the crop's zero padding alone
            var rows = where.select(1, 0);
            var cols = where.select(1, 1);
            long top = rows.min().item<long>(), left = cols.min().item<long>();
            Assert.True(rows.max().item<long>() - top < 4 && cols.max().item<long>() - left < 4,
                $"image {i}: pixels changed outside one 4x4 square");
            corners.Add((top, left));
        }
        Assert.True(corners.Count > 8, "the squares do not move from image to image");
        // a resumed epoch draws the same squares
        var p = new BatchPipeline(data, Identity, 5, shuffle: true, augment: true, seed: 5, cutout: 3);
        Assert.Equal(Collect(p, 2).Skip(3).Select(b => b.X), Collect(p, 2, start: 3).Select(b => b.X));
        Assert.Throws<ArgumentException>(() => new BatchPipeline(data, Identity, 5, false, augment: false, 0,
            cutout: 3));
    }

    [Fact]
    public void Normalisation_uses_the_dataset_constants()
    {
        using var data = Images(2);
        var p = new BatchPipeline(data, new Normalization([0.5, 0.25], [0.2, 0.1]), 2, shuffle: false, augment: false,
            seed: 0);
        var batch = p.Epoch(0).Single();
        using var _ = batch;
        Assert.Equal((1 / 255.0 - 0.5) / 0.2, batch.Images[0, 0, 0, 0].item<float>(), 5);
        Assert.Equal((37 / 255.0 - 0.25) / 0.1, batch.Images[0, 1, 0, 0].item<float>(), 5);
        Assert.Throws<ArgumentException>(() => new BatchPipeline(data, Normalization.Cifar10, 2, false, false, 0));
    }

    [Fact]
    public void Batches_are_made_on_the_calling_thread()
    {
        // tensor work on another thread slowed training by about 10% for the rest of the process (libgomp
        // throttles its spin-waiting once it has more threads than cores). Made on this thread, a batch joins
        // this thread's dispose scope; made on a worker, it would not, and would outlive the scope.
        using var data = Images(8);
        var p = new BatchPipeline(data, Identity, 4, shuffle: true, augment: true, seed: 1);
        Batch first, second;
        using (var scope = NewDisposeScope())
        {
            using var batches = p.Epoch(0).GetEnumerator();
            Assert.True(batches.MoveNext());
            first = batches.Current;
            Assert.True(batches.MoveNext());
            second = batches.Current;
            Assert.False(first.Images.IsInvalid);
        }
        Assert.True(first.Images.IsInvalid);
        Assert.True(second.Images.IsInvalid);
    }
}
