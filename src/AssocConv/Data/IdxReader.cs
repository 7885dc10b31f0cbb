using System.Buffers.Binary;
using System.IO.Compression;
using static TorchSharp.torch;

namespace AssocConv.Data;

/// <summary>Reads MNIST-style IDX files (<c>uint8</c> images and labels), gzipped or not.</summary>
public static class IdxReader
{
    /// <summary>Class names of MNIST.</summary>
    public static IReadOnlyList<string> MnistClasses { get; } =
        Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray();

    /// <summary>Class names of Fashion-MNIST.</summary>
    public static IReadOnlyList<string> FashionMnistClasses { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>
    /// The training and test sets from a folder holding <c>train-images-idx3-ubyte</c>,
    /// <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c> and <c>t10k-labels-idx1-ubyte</c>,
    /// each optionally with <c>.gz</c>.
    /// </summary>
    /// <exception cref="DataFormatException">A file is missing or malformed, counts disagree, or a label is out of
    /// range.</exception>
    public static (LabeledImages Train,
        LabeledImages Test) ReadFolder(string folder, IReadOnlyList<string> classNames) =>
        (ReadPair(Find(folder, "train-images-idx3-ubyte"), Find(folder, "train-labels-idx1-ubyte"), classNames),
         ReadPair(Find(folder, "t10k-images-idx3-ubyte"), Find(folder, "t10k-labels-idx1-ubyte"), classNames));

    private static string Find(string folder, string name)
    {
        foreach (var candidate in new[] { name, name + ".gz" })
        {
            var path = Path.Combine(folder, candidate);
            if (File.Exists(path)) return path;
        }
        throw new DataFormatException(Path.Combine(folder, name), "missing (looked for it with and without .gz)");
    }

    /// <summary>Images from an <c>idx3</c> file and labels from an <c>idx1</c> file.</summary>
    public static LabeledImages ReadPair(string imagesPath, string labelsPath, IReadOnlyList<string> classNames) =>
        ReadPair(imagesPath, ReadFile(imagesPath), labelsPath, ReadFile(labelsPath), classNames);

    /// <summary>Images and labels from the bytes of an <c>idx3</c> and an <c>idx1</c> file (named for
    /// messages).</summary>
    public static LabeledImages ReadPair(string imagesName, byte[] imagesFile, string labelsName, byte[] labelsFile,
        IReadOnlyList<string> classNames)
    {
        var (imageDims, pixels) = ParseIdx(imagesName, imagesFile, 3);
        var (labelDims, labelBytes) = ParseIdx(labelsName, labelsFile, 1);
        string imagesPath = imagesName, labelsPath = labelsName;
        if (labelDims[0] != imageDims[0])
            throw new DataFormatException(labelsPath,
                $"{labelDims[0]:N0} labels for {imageDims[0]:N0} images in {imagesPath}");
        var labels = new long[labelBytes.Length];
        for (int i = 0; i < labelBytes.Length; i++)
        {
            if (labelBytes[i] >= classNames.Count)
                throw new DataFormatException(labelsPath,
                    $"label {labelBytes[i]} at index {i} is not below {classNames.Count}");
            labels[i] = labelBytes[i];
        }
        return new LabeledImages(tensor(pixels, new long[] { imageDims[0], 1, imageDims[1], imageDims[2] }),
            tensor(labels), classNames);
    }

    private static byte[] ReadFile(string path) =>
        File.Exists(path) ? AssocConv.IO.RegularFile.ReadAllBytes(path)
            : throw new DataFormatException(path, "missing");

    /// <summary>An IDX file's dimensions and its <c>uint8</c> payload, checked against the header.</summary>
    public static (int[] Dims, byte[] Data) ReadIdx(string path, int expectedDims) => ParseIdx(path, ReadFile(path),
        expectedDims);

    /// <summary>Bytes of data an IDX file may declare: 20 times Fashion-MNIST's training images.</summary>
    public const long MaxDataBytes = 1L << 30;

    /// <summary>The dimensions and payload of IDX bytes (gzipped or not) named <paramref name="path"/> in
    /// messages.</summary>
    /// <exception cref="DataFormatException">
    /// Not IDX of unsigned bytes, a size that overflows or exceeds <see cref="MaxDataBytes"/>, or data shorter or
    /// longer than declared.
    /// </exception>
    public static (int[] Dims, byte[] Data) ParseIdx(string path, byte[] bytes, int expectedDims)
    {
        bool gzipped = bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
        using Stream stream = gzipped
            ? new GZipStream(new MemoryStream(bytes, writable: false), CompressionMode.Decompress)
            : new MemoryStream(bytes, writable: false);
        try
        {
            // the header first, and only as many bytes as it declares (checked against the limit) after it
            var header = new byte[4 + 4 * expectedDims];
            int got = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
            if (got < header.Length)
                throw new DataFormatException(path, $"{got} bytes, shorter than an IDX header of {header.Length}");
            if (header[0] != 0 || header[1] != 0 || header[2] != 0x08 || header[3] != expectedDims)
                throw new DataFormatException(path,
                    $"magic number {header[0]:x2}{header[1]:x2}{header[2]:x2}{header[3]:x2}, expected " +
                        $"000008{expectedDims:x2} (unsigned bytes, {expectedDims} dimensions)");
            var dims = new int[expectedDims];
            long count = 1;
            for (int d = 0; d < expectedDims; d++)
            {
                dims[d] = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4 + 4 * d));
                if (dims[d] < 0) throw new DataFormatException(path, $"dimension {d} is negative ({dims[d]})");
                count = Math.Min(count * dims[d], MaxDataBytes + 1);   // saturates instead of overflowing
            }
            if (!gzipped && count > bytes.Length - header.Length)
                throw new DataFormatException(path,
                    $"header says {string.Join(" x ", dims)}{(count <= MaxDataBytes ? $" = {count:N0}" : "")} bytes " +
                        $"of data, the file holds {bytes.Length - header.Length:N0}");
            if (count > MaxDataBytes)
                throw new DataFormatException(path,
                    $"header declares {string.Join(" x ", dims)} bytes, more than the {MaxDataBytes:N0} read");
            // a gzip stream's real length is known only by decoding it: grow with what arrives, not with what is
            // declared
            using var received = new MemoryStream((int)Math.Min(count, 1 << 24));
            var chunk = new byte[1 << 16];
            int n;
            while (received.Length < count && (n = stream.Read(chunk, 0,
                (int)Math.Min(chunk.Length, count - received.Length))) > 0)
                received.Write(chunk, 0, n);
            got = (int)received.Length;
            bool longer = got == count && stream.ReadByte() >= 0;
            var data = received.ToArray();
            if (got < count || longer)
                throw new DataFormatException(path,
                    $"header says {string.Join(" x ", dims)} = {count:N0} bytes of data, the file holds " +
                        $"{(longer ? "more" : $"{got:N0}")}");
            return (dims, data);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"not a valid gzip stream ({e.Message})", e);
        }
    }
}
