using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using AssocConv.Data;

namespace AssocConv.Tests.Data;

/// <summary>Data files that declare more than they hold, or sit behind links: refused quickly, or read through the
/// link.</summary>
public sealed class HostileDataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-hostile-data-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] IdxHeader(params int[] dims)
    {
        var header = new byte[4 + 4 * dims.Length];
        header[2] = 0x08;
        header[3] = (byte)dims.Length;
        for (int d = 0; d < dims.Length; d++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * d), dims[d]);
        return header;
    }

    private static byte[] Gzip(byte[] header, long zeros)
    {
        using var memory = new MemoryStream();
        using (var gz = new GZipStream(memory, CompressionLevel.Optimal, leaveOpen: true))
        {
            gz.Write(header);
            var block = new byte[1 << 20];
            for (long left = zeros; left > 0; left -= block.Length) gz.Write(block, 0,
                (int)Math.Min(block.Length, left));
        }
        return memory.ToArray();
    }

    [Theory]
    [InlineData(100_000, 1_000, 1_000)]                          // 100 GB declared
    [InlineData(int.MaxValue, int.MaxValue, int.MaxValue)]       // a product that overflows 64 bits
    public void An_idx_header_declaring_too_much_is_refused_before_decoding(int n, int h, int w)
    {
        var bytes = Gzip(IdxHeader(n, h, w), zeros: 1_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataFormatException>(() => IdxReader.ParseIdx("bomb.gz", bytes, 3));
        Assert.Contains("more than the 1,073,741,824 read", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000);
    }

    [Fact]
    public void An_idx_gzip_shorter_than_declared_allocates_what_arrives_not_what_is_declared()
    {
        // declares 900 MB of pixels, holds 1 MB
        var bytes = Gzip(IdxHeader(1_000_000, 30, 30), zeros: 1 << 20);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataFormatException>(() => IdxReader.ParseIdx("short.gz", bytes, 3));
        Assert.Contains("the file holds 1,048,576", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64_000_000);
    }

    [Fact]
    public void An_image_declaring_gigapixels_is_refused_before_its_pixels_are_decoded()
    {
        // a PNG whose header says 20000 x 20000 (1.6 GB decoded) in under a hundred bytes
        static byte[] Chunk(string type, byte[] data)
        {
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(crc, System.IO.Hashing.Crc32.HashToUInt32(typed));
            var length = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
            return [.. length, .. typed, .. crc];
        }
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, 20_000);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), 20_000);
        ihdr[8] = 8;   // 8-bit
        ihdr[9] = 2;   // RGB
        var png = Path.Combine(_dir, "huge.png");
        File.WriteAllBytes(png,
            [0x89, .. "PNG\r\n\u001a\n"u8, .. Chunk("IHDR", ihdr),
                .. Chunk("IDAT", [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]), .. Chunk("IEND", [])]);
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<DataFormatException>(() => ImageFile.Read(png, 3, 32, 32));
        Assert.Contains("declares 20,000x20,000 pixels", e.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1));

        var folder = Assert.Throws<DataFormatException>(() => ImageFile.Read(_dir, 3, 32, 32));
        Assert.Contains("is a directory", folder.Message);
    }

    [Fact]
    public void Cifar_files_behind_symbolic_links_are_read_through_them()
    {
        var real = SmallCifar10("real");
        var linked = Directory.CreateDirectory(Path.Combine(_dir, "linked")).FullName;
        foreach (var file in Directory.GetFiles(real))
            File.CreateSymbolicLink(Path.Combine(linked, Path.GetFileName(file)), file);
        using var data = Dataset.Load(DatasetSpec.Parse("cifar10:" + linked));
        Assert.Equal(35, data.Train.Count);
        Assert.Equal(7, data.Test.Count);
    }

    // CIFAR-10's binary files, 7 random records each
    private string SmallCifar10(string name)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        var random = new Random(3);
        foreach (var file in new[] { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
            "data_batch_5.bin", "test_batch.bin" })
        {
            var records = new byte[7 * 3073];
            random.NextBytes(records);
            for (int r = 0; r < 7; r++) records[r * 3073] = (byte)(r % 10);
            File.WriteAllBytes(Path.Combine(folder, file), records);
        }
        return folder;
    }

    // class names come from a label file or from folder names, and are printed in tables: one that holds a
    // terminal escape sequence is refused where it is read, and the command line prints it as escapes
    [Fact]
    public void Class_names_holding_control_characters_are_refused_where_they_are_read()
    {
        var cifar = SmallCifar10("cifar");
        string[] names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
        File.WriteAllLines(Path.Combine(cifar, "batches.meta.txt"), names);
        using (var data = Dataset.Load(DatasetSpec.Parse("cifar10:" + cifar)))
            Assert.Equal(names, data.Train.ClassNames);
        names[9] = "truck\u001b[8m";   // ESC [8m: what follows is invisible
        File.WriteAllLines(Path.Combine(cifar, "batches.meta.txt"), names);
        var e = Assert.Throws<DataFormatException>(() => Dataset.Load(DatasetSpec.Parse("cifar10:" + cifar)));
        Assert.Equal(Path.Combine(cifar, "batches.meta.txt") + @": class name 9 ('truck\u001B[8m') holds the " +
            "control character U+001B", e.Message);

        var folder = Path.Combine(_dir, "shapes");
        TestSupport.WriteImageFolder(folder, 1, ("circle", SkiaSharp.SKColors.Red),
            ("square\u001b]0;title\u0007", SkiaSharp.SKColors.Blue));
        e = Assert.Throws<DataFormatException>(() => ImageFolderReader.Read(folder, size: 8));
        Assert.Contains(@"class name 1 ('square\u001B]0;title\u0007') holds the control character U+001B; " +
            "rename that folder", e.Message);
        var (code, stdout, stderr) = TestSupport.RunCli("train", "--model", "small-cnn", "--data", "folder:" + folder,
            "--epochs", "1", "--out", Path.Combine(_dir, "run"));
        Assert.Equal(2, code);
        Assert.Contains(@"('square\u001B]0;title\u0007')", stderr);
        Assert.DoesNotContain('\u001b', stdout + stderr);
    }
}
