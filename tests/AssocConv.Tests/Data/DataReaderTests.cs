using System.Buffers.Binary;
using System.IO.Compression;
using AssocConv.Data;
using static AssocConv.Tests.TestSupport;

namespace AssocConv.Tests.Data;

public sealed class DataReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-data-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>CIFAR-10 records: label, then 1,024 red, 1,024 green, 1,024 blue bytes; pixel (c, y, x) = label + c + y
    /// + x.</summary>
    private static byte[] CifarRecords(params byte[] labels)
    {
        var bytes = new List<byte>();
        foreach (var label in labels)
        {
            bytes.Add(label);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                        bytes.Add((byte)(label + c * 50 + y + x));
        }
        return bytes.ToArray();
    }

    private void WriteCifar10(Func<int, byte[]>? batch = null)
    {
        for (int i = 1; i <= 5; i++) File.WriteAllBytes(Path.Combine(_dir, $"data_batch_{i}.bin"),
            batch?.Invoke(i) ?? CifarRecords((byte)i, 0));
        File.WriteAllBytes(Path.Combine(_dir, "test_batch.bin"), CifarRecords(9));
    }

    [Fact]
    public void Cifar10_reads_labels_and_planar_pixels()
    {
        WriteCifar10();
        var (train, test) = CifarReader.ReadCifar10(_dir);
        using (train) using (test)
        {
            Assert.Equal(10, train.Count);
            Assert.Equal(new long[] { 1, 0, 2, 0, 3, 0, 4, 0, 5, 0 }, train.Labels.data<long>().ToArray());
            // image 0 has label 1: pixel (channel 2, row 3, column 4) = 1 + 100 + 3 + 4
            Assert.Equal(108, train.Images[0, 2, 3, 4].item<byte>());
            Assert.Equal(new long[] { 1, 3, 32, 32 }, test.Images.shape);
            Assert.Equal("airplane", train.ClassNames[0]);
        }
    }

    [Fact]
    public void Cifar_problems_name_the_file()
    {
        WriteCifar10(i => i == 3 ? CifarRecords(1)[..^5] : CifarRecords(1));
        var e = Assert.Throws<DataFormatException>(() => CifarReader.ReadCifar10(_dir));
        Assert.EndsWith("data_batch_3.bin", e.Path);
        Assert.Contains("not a whole number", e.Message);

        WriteCifar10(i => i == 2 ? CifarRecords(4, 10) : CifarRecords(1));
        e = Assert.Throws<DataFormatException>(() => CifarReader.ReadCifar10(_dir));
        Assert.Contains("data_batch_2.bin: record 1: label 10 is not below 10", e.Message);

        File.Delete(Path.Combine(_dir, "test_batch.bin"));
        WriteCifar10();
        File.Delete(Path.Combine(_dir, "test_batch.bin"));
        Assert.Contains("missing", Assert.Throws<DataFormatException>(() => CifarReader.ReadCifar10(_dir)).Message);
    }

    [Fact]
    public void Cifar100_reads_fine_labels_after_the_coarse_byte()
    {
        static byte[] Records(params (byte Coarse, byte Fine)[] labels) => labels.SelectMany(l =>
            new[] { l.Coarse, l.Fine }.Concat(Enumerable.Repeat((byte)(l.Fine + 1), 3072))).ToArray();
        File.WriteAllBytes(Path.Combine(_dir, "train.bin"), Records((19, 99), (0, 5)));
        File.WriteAllBytes(Path.Combine(_dir, "test.bin"), Records((3, 42)));
        var (train, test) = CifarReader.ReadCifar100(_dir);
        using (train) using (test)
        {
            Assert.Equal(new long[] { 99, 5 }, train.Labels.data<long>().ToArray());
            Assert.Equal(100, train.Images[0, 2, 31, 31].item<byte>());
            Assert.Equal(100, train.ClassNames.Count);
        }
        File.WriteAllBytes(Path.Combine(_dir, "test.bin"), Records((3, 100)));
        Assert.Contains("test.bin: record 0: label 100 is not below 100",
            Assert.Throws<DataFormatException>(() => CifarReader.ReadCifar100(_dir)).Message);
        File.WriteAllBytes(Path.Combine(_dir, "test.bin"), Records((3, 1))[..3073]);   // a CIFAR-10-sized record
        Assert.Contains("3,074-byte records",
            Assert.Throws<DataFormatException>(() => CifarReader.ReadCifar100(_dir)).Message);
    }

    [SharedFact("datasets/cifar-10-batches-bin")]
    public void Real_cifar10_has_the_official_counts_and_channel_means()
    {
        var (train, test) = CifarReader.ReadCifar10(SharedPath("datasets/cifar-10-batches-bin"));
        using (train) using (test)
        {
            Assert.Equal(50_000, train.Count);
            Assert.Equal(10_000, test.Count);
            Assert.All(train.CountPerClass(), c => Assert.Equal(5_000, c));
            Assert.All(test.CountPerClass(), c => Assert.Equal(1_000, c));
            var (mean, _) = train.ChannelStatistics();
            Assert.InRange(mean[0], 0.4914 - 5e-4, 0.4914 + 5e-4);
            Assert.InRange(mean[1], 0.4822 - 5e-4, 0.4822 + 5e-4);
            Assert.InRange(mean[2], 0.4465 - 5e-4, 0.4465 + 5e-4);
            Assert.Equal("truck", train.ClassNames[9]);
        }
    }

    private static byte[] Idx(int type, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = (byte)type;
        bytes[3] = (byte)dims.Length;
        for (int d = 0; d < dims.Length; d++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * d), dims[d]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var memory = new MemoryStream();
        using (var gz = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(bytes);
        return memory.ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Idx_reads_gzipped_or_plain_files(bool gzip)
    {
        var pixels = Enumerable.Range(0, 3 * 4 * 5).Select(i => (byte)i).ToArray();
        byte[] Maybe(byte[] b) => gzip ? Gzip(b) : b;
        string ext = gzip ? ".gz" : "";
        foreach (var prefix in new[] { "train", "t10k" })
        {
            File.WriteAllBytes(Path.Combine(_dir, $"{prefix}-images-idx3-ubyte{ext}"),
                Maybe(Idx(8, [3, 4, 5], pixels)));
            File.WriteAllBytes(Path.Combine(_dir, $"{prefix}-labels-idx1-ubyte{ext}"), Maybe(Idx(8, [3], [7, 0, 9])));
        }
        var (train, test) = IdxReader.ReadFolder(_dir, IdxReader.MnistClasses);
        using (train) using (test)
        {
            Assert.Equal(new long[] { 3, 1, 4, 5 }, train.Images.shape);
            Assert.Equal(new long[] { 7, 0, 9 }, train.Labels.data<long>().ToArray());
            Assert.Equal(2 * 20 + 3 * 5 + 4, train.Images[2, 0, 3, 4].item<byte>());
        }
    }

    [Fact]
    public void Idx_problems_name_the_file_and_the_fault()
    {
        string images = Path.Combine(_dir, "i"), labels = Path.Combine(_dir, "l");
        var pixels = new byte[2 * 4 * 4];
        File.WriteAllBytes(labels, Idx(8, [2], [1, 2]));

        File.WriteAllBytes(images, Idx(9, [2, 4, 4], pixels));     // wrong element type in the magic number
        Assert.Contains("magic number 00000903",
            Assert.Throws<DataFormatException>(() => IdxReader.ReadPair(images, labels,
                IdxReader.MnistClasses)).Message);

        File.WriteAllBytes(images, Idx(8, [2, 4, 4], pixels)[..^3]);   // truncated
        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadPair(images, labels, IdxReader.MnistClasses));
        Assert.Equal(images, e.Path);
        Assert.Contains("32 bytes of data, the file holds 29", e.Message);

        File.WriteAllBytes(images, Gzip(Idx(8, [2, 4, 4], pixels))[..^10]);   // a cut gzip stream
        Assert.Throws<DataFormatException>(() => IdxReader.ReadPair(images, labels, IdxReader.MnistClasses));

        File.WriteAllBytes(images, Idx(8, [2, 4, 4], pixels));
        File.WriteAllBytes(labels, Idx(8, [2], [1, 10]));
        Assert.Contains("label 10 at index 1",
            Assert.Throws<DataFormatException>(() => IdxReader.ReadPair(images, labels,
                IdxReader.MnistClasses)).Message);

        File.WriteAllBytes(labels, Idx(8, [3], [1, 2, 3]));
        Assert.Contains("3 labels for 2 images",
            Assert.Throws<DataFormatException>(() => IdxReader.ReadPair(images, labels,
                IdxReader.MnistClasses)).Message);

        File.WriteAllBytes(images,
            Idx(8, [int.MaxValue, 4, 4], pixels));   // a header that promises far more than the file holds
        Assert.Contains("the file holds 32",
            Assert.Throws<DataFormatException>(() => IdxReader.ReadPair(images, labels,
                IdxReader.MnistClasses)).Message);
    }

    [Fact]
    public void The_embedded_sample_is_real_fashion_mnist()
    {
        using var sample = Dataset.LoadSample();
        Assert.Equal(8_000, sample.Train.Count);
        Assert.Equal(2_000, sample.Test.Count);
        Assert.Equal(new long[] { 1, 28, 28 }, sample.Train.Images.shape.Skip(1));
        Assert.All(sample.Train.CountPerClass(), c => Assert.InRange(c, 700, 900));
        Assert.Equal("Ankle boot", sample.Train.ClassNames[9]);
        Assert.InRange(sample.Train.ChannelStatistics().Mean[0], 0.27, 0.30);
    }

    [SystemFact("/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist")]
    public void Debian_fashion_mnist_reads_with_the_official_counts()
    {
        const string folder = "/usr/share/datasets/fashion-mnist";
        using var data = Dataset.Load(DatasetSpec.Parse("fashion-mnist:" + folder));
        Assert.Equal(60_000, data.Train.Count);
        Assert.Equal(10_000, data.Test.Count);
        Assert.All(data.Train.CountPerClass(), c => Assert.Equal(6_000, c));
    }

    [Fact]
    public void Dataset_specs_parse_and_bare_names_are_looked_for_in_order()
    {
        Assert.Equal(new DatasetSpec(DatasetKind.Cifar10, null), DatasetSpec.Parse("cifar10"));
        Assert.Equal(new DatasetSpec(DatasetKind.Cifar100, "/x/y"), DatasetSpec.Parse("cifar100:/x/y"));
        Assert.Equal(new DatasetSpec(DatasetKind.Folder, "imgs"), DatasetSpec.Parse("folder:imgs"));
        Assert.Equal(DatasetKind.Sample, DatasetSpec.Parse("sample").Kind);
        Assert.Contains("unknown dataset 'imagenet'",
            Assert.Throws<FormatException>(() => DatasetSpec.Parse("imagenet")).Message);
        Assert.Throws<FormatException>(() => DatasetSpec.Parse("folder"));
        Assert.Throws<FormatException>(() => DatasetSpec.Parse("cifar10:"));

        var old = Environment.GetEnvironmentVariable("ASSOCCONV_DATA");
        try
        {
            Environment.SetEnvironmentVariable("ASSOCCONV_DATA", _dir);
            var searched = DatasetSpec.Parse("fashion-mnist").SearchFolders();
            Assert.Equal(Path.Combine(_dir, "fashion-mnist"), searched[0]);
            Assert.Equal(Path.Combine(DatasetSpec.DefaultCacheRoot, "fashion-mnist"), searched[1]);
            Assert.Equal("/usr/share/datasets/fashion-mnist", searched[^1]);
            Assert.Equal(Path.Combine(_dir, "cifar-10-batches-bin"), DatasetSpec.Parse("cifar10").SearchFolders()[0]);
            var e = Assert.Throws<DataFormatException>(() => Dataset.Load(DatasetSpec.Parse("mnist")));
            Assert.Contains("not found; looked in", e.Message);
            Assert.Contains("assocconv data download mnist", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("ASSOCCONV_DATA", old);
        }
    }
}
