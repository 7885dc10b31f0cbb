using static TorchSharp.torch;

namespace AssocConv.Data;

/// <summary>
/// Reads CIFAR-10 and CIFAR-100 in their official binary layouts: records of label byte(s) then
/// 3,072 pixel bytes (1,024 red, then green, then blue, row-major 32x32).
/// </summary>
public static class CifarReader
{
    private const int Pixels = 3 * 32 * 32;

    private static readonly string[] Cifar10Classes =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>CIFAR-10 from the folder holding <c>data_batch_1.bin</c> ... <c>data_batch_5.bin</c> and
    /// <c>test_batch.bin</c>
    /// (officially 10,000 records each; any whole number of records is read).</summary>
    /// <exception cref="DataFormatException">A file is missing, empty, not a whole number of records, a label is not
    /// 0-9, or <c>batches.meta.txt</c> holds a name <see cref="DisplayText"/> refuses.</exception>
    public static (LabeledImages Train, LabeledImages Test) ReadCifar10(string folder)
    {
        var names = ReadClassNames(Path.Combine(folder, "batches.meta.txt"), Cifar10Classes);
        var train = Read(Enumerable.Range(1, 5).Select(i => Path.Combine(folder, $"data_batch_{i}.bin")).ToArray(),
            labelBytes: 1, labelIndex: 0, classes: 10, names);
        var test = Read([Path.Combine(folder, "test_batch.bin")], 1, 0, 10, names);
        return (train, test);
    }

    /// <summary>CIFAR-100 (fine labels) from the folder holding <c>train.bin</c> and <c>test.bin</c>.</summary>
    /// <exception cref="DataFormatException">A file is missing, has the wrong length, a label is out of range, or
    /// <c>fine_label_names.txt</c> holds a name <see cref="DisplayText"/> refuses.</exception>
    public static (LabeledImages Train, LabeledImages Test) ReadCifar100(string folder)
    {
        var fallback = Enumerable.Range(0, 100).Select(i => $"class {i}").ToArray();
        var names = ReadClassNames(Path.Combine(folder, "fine_label_names.txt"), fallback);
        var train = Read([Path.Combine(folder, "train.bin")], 2, 1, 100, names);
        var test = Read([Path.Combine(folder, "test.bin")], 2, 1, 100, names);
        return (train, test);
    }

    private static string[] ReadClassNames(string path, string[] fallback)
    {
        if (!File.Exists(path)) return fallback;
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (DisplayText.ClassNameProblem(names) is { } unfit) throw new DataFormatException(path, unfit);
        return names.Length == fallback.Length ? names : fallback;
    }

    private static LabeledImages Read(string[] files, int labelBytes, int labelIndex, int classes,
        IReadOnlyList<string> names)
    {
        int recordSize = labelBytes + Pixels;
        var records = new long[files.Length];
        for (int f = 0; f < files.Length; f++)
        {
            var file = files[f];
            if (!File.Exists(file)) throw new DataFormatException(file,
                "missing (expected the official binary CIFAR file)");
            long length = AssocConv.IO.RegularFile.Resolve(file).Length;   // a link's target, not the link
            if (length == 0 || length % recordSize != 0)
                throw new DataFormatException(file,
                    $"{length:N0} bytes is not a whole number of {recordSize:N0}-byte records ({labelBytes} label " +
                        $"byte{(labelBytes > 1 ? "s" : "")} + {Pixels:N0} pixels); the file is truncated or not CIFAR");
            records[f] = length / recordSize;
        }
        long total = records.Sum();
        var pixels = new byte[total * Pixels];
        var labels = new long[total];
        long n = 0;
        var record = new byte[recordSize];
        for (int f = 0; f < files.Length; f++)
        {
            using var stream = File.OpenRead(AssocConv.IO.RegularFile.Resolve(files[f]).FullName);
            for (long r = 0; r < records[f]; r++, n++)
            {
                stream.ReadExactly(record);
                int label = record[labelIndex];
                if (label >= classes)
                    throw new DataFormatException(files[f], $"record {r}: label {label} is not below {classes}");
                labels[n] = label;
                Array.Copy(record, labelBytes, pixels, n * Pixels, Pixels);
            }
        }
        return new LabeledImages(tensor(pixels, new[] { total, 3, 32, 32 }), tensor(labels), names);
    }
}
