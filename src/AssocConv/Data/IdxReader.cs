using System.Buffers.Binary;
using System.IO.Compression;
using static TorchSharp.torch;

namespace AssocConv.Data;

/// <summary>Reads MNIST-style IDX files (<c>uint8</c> images and labels), gzipped or not.</summary>
public static class IdxReader
{
    /// <summary>Class names of MNIST.</summary>
    public static IReadOnlyList<string> MnistClasses { get; } = Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray();

    /// <summary>Class names of Fashion-MNIST.</summary>
    public static IReadOnlyList<string> FashionMnistClasses { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>
    /// The training and test sets from a folder holding <c>train-images-idx3-ubyte</c>,
    /// <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c> and <c>t10k-labels-idx1-ubyte</c>,
    /// each optionally with <c>.gz</c>.
    /// </summary>
    /// <exception cref="DataFormatException">A file is missing or malformed, counts disagree, or a label is out of range.</exception>
    public static (LabeledImages Train, LabeledImages Test) ReadFolder(string folder, IReadOnlyList<string> classNames) =>
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

    /// <summary>Images and labels from the bytes of an <c>idx3</c> and an <c>idx1</c> file (named for messages).</summary>
    public static LabeledImages ReadPair(string imagesName, byte[] imagesFile, string labelsName, byte[] labelsFile,
        IReadOnlyList<string> classNames)
    {
        var (imageDims, pixels) = ParseIdx(imagesName, imagesFile, 3);
        var (labelDims, labelBytes) = ParseIdx(labelsName, labelsFile, 1);
        string imagesPath = imagesName, labelsPath = labelsName;
        if (labelDims[0] != imageDims[0])
            throw new DataFormatException(labelsPath, $"{labelDims[0]:N0} labels for {imageDims[0]:N0} images in {imagesPath}");
        var labels = new long[labelBytes.Length];
        for (int i = 0; i < labelBytes.Length; i++)
        {
            if (labelBytes[i] >= classNames.Count)
                throw new DataFormatException(labelsPath, $"label {labelBytes[i]} at index {i} is not below {classNames.Count}");
            labels[i] = labelBytes[i];
        }
        return new LabeledImages(tensor(pixels, new long[] { imageDims[0], 1, imageDims[1], imageDims[2] }),
            tensor(labels), classNames);
    }

    private static byte[] ReadFile(string path) =>
        File.Exists(path) ? File.ReadAllBytes(path) : throw new DataFormatException(path, "missing");

    /// <summary>An IDX file's dimensions and its <c>uint8</c> payload, checked against the header.</summary>
    public static (int[] Dims, byte[] Data) ReadIdx(string path, int expectedDims) => ParseIdx(path, ReadFile(path), expectedDims);

    /// <summary>The dimensions and payload of IDX bytes (gzipped or not) named <paramref name="path"/> in messages.</summary>
    public static (int[] Dims, byte[] Data) ParseIdx(string path, byte[] bytes, int expectedDims)
    {
        try
        {
            if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
            {
                using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                using var plain = new MemoryStream();
                gz.CopyTo(plain);
                bytes = plain.ToArray();
            }
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"not a valid gzip stream ({e.Message})", e);
        }
        int header = 4 + 4 * expectedDims;
        if (bytes.Length < header)
            throw new DataFormatException(path, $"{bytes.Length} bytes, shorter than an IDX header of {header}");
        if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] != expectedDims)
            throw new DataFormatException(path,
                $"magic number {bytes[0]:x2}{bytes[1]:x2}{bytes[2]:x2}{bytes[3]:x2}, expected 000008{expectedDims:x2} (unsigned bytes, {expectedDims} dimensions)");
        var dims = new int[expectedDims];
        long count = 1;
        for (int d = 0; d < expectedDims; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * d));
            if (dims[d] < 0) throw new DataFormatException(path, $"dimension {d} is negative ({dims[d]})");
            count *= dims[d];
        }
        if (bytes.Length - header != count)
            throw new DataFormatException(path,
                $"header says {string.Join(" x ", dims)} = {count:N0} bytes of data, the file holds {bytes.Length - header:N0}");
        return (dims, bytes[header..]);
    }
}
