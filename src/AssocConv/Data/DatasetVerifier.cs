using System.Security.Cryptography;

namespace AssocConv.Data;

/// <summary>One file's check: what was found against what the official distribution holds.</summary>
/// <param name="File">The file's name.</param>
/// <param name="Found">What was found (size, records or images, checksum).</param>
/// <param name="Expected">What the official files hold.</param>
/// <param name="Ok">Whether they agree.</param>
public sealed record FileCheck(string File, string Found, string Expected, bool Ok);

/// <summary>
/// Checks a dataset folder against the official files: a file cut at a record boundary still reads, so sizes,
/// record and image counts and, where published, MD5 checksums are compared (and any <c>MD5SUMS</c> beside them).
/// </summary>
public static class DatasetVerifier
{
    private const int CifarRecord10 = 1 + 3072, CifarRecord100 = 2 + 3072;

    // the official CIFAR-10 binary files as unpacked from cifar-10-binary.tar.gz (MD5 c32a1d4a...)
    private static readonly (string Name, long Bytes, string? Md5)[] Cifar10 =
    [
        ("data_batch_1.bin", 10_000L * CifarRecord10, "5dd7e06a14cb22eb9f671a540d1b7c25"),
        ("data_batch_2.bin", 10_000L * CifarRecord10, "5ea93a67294ea407fff1d09f752e9692"),
        ("data_batch_3.bin", 10_000L * CifarRecord10, "942cd6a4bcdd0dd3c604fbe906cb4421"),
        ("data_batch_4.bin", 10_000L * CifarRecord10, "ae636b3ba5c66a11e91e8cb52e771fcb"),
        ("data_batch_5.bin", 10_000L * CifarRecord10, "53f37980c15c3d472c316c40844f3f0d"),
        ("test_batch.bin", 10_000L * CifarRecord10, "803d5f7f4d78ea53de84dbe85f74fb6d"),
    ];

    private static readonly (string Name, long Bytes, string? Md5)[] Cifar100 =
    [
        ("train.bin", 50_000L * CifarRecord100, null),
        ("test.bin", 10_000L * CifarRecord100, null),
    ];

    // (Fashion-)MNIST: images and labels per file; packagers recompress the .gz files, so the content is checked
    private static readonly (string Name, int Count)[] Idx =
    [
        ("train-images-idx3-ubyte", 60_000), ("train-labels-idx1-ubyte", 60_000),
        ("t10k-images-idx3-ubyte", 10_000), ("t10k-labels-idx1-ubyte", 10_000),
    ];

    /// <summary>The official training and test image counts of <paramref name="kind"/>, when it has official
    /// files.</summary>
    public static (int Train, int Test)? OfficialCounts(DatasetKind kind) => kind switch
    {
        DatasetKind.Cifar10 or DatasetKind.Cifar100 => (50_000, 10_000),
        DatasetKind.FashionMnist or DatasetKind.Mnist => (60_000, 10_000),
        _ => null,
    };

    /// <summary>Checks every official file of <paramref name="kind"/> in <paramref name="folder"/>.</summary>
    public static IReadOnlyList<FileCheck> Verify(DatasetKind kind, string folder)
    {
        var checks = new List<FileCheck>();
        switch (kind)
        {
            case DatasetKind.Cifar10: Files(folder, Cifar10, CifarRecord10, checks); break;
            case DatasetKind.Cifar100: Files(folder, Cifar100, CifarRecord100, checks); break;
            case DatasetKind.FashionMnist or DatasetKind.Mnist:
                foreach (var (name, count) in Idx) checks.Add(IdxFile(folder, name, count));
                break;
            default: throw new ArgumentException($"{kind} has no official files to verify against");
        }
        var sums = Path.Combine(folder, "MD5SUMS");
        if (File.Exists(sums))
            foreach (var line in File.ReadLines(sums).Where(l => l.Trim().Length > 0))
            {
                var parts = line.Split((char[])[' ', '\t'], 2, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length != 2) continue;
                var name = parts[1].TrimStart('*').Trim();
                var path = Path.Combine(folder, name);
                string found = File.Exists(path) ? Md5(path) : "missing";
                checks.Add(new FileCheck($"{name} (MD5SUMS)", found, parts[0].ToLowerInvariant(),
                    found == parts[0].ToLowerInvariant()));
            }
        return checks;
    }

    private static void Files(string folder, (string Name, long Bytes, string? Md5)[] files, int record,
        List<FileCheck> checks)
    {
        foreach (var (name, bytes, md5) in files)
        {
            var path = Path.Combine(folder, name);
            string expected = $"{bytes / record:N0} records" + (md5 is null ? "" : $", MD5 {md5}");
            if (!File.Exists(path))
            {
                checks.Add(new FileCheck(name, "missing", expected, false));
                continue;
            }
            long length = IO.RegularFile.Resolve(path).Length;
            string records = length % record == 0 ? $"{length / record:N0} records" : $"{length:N0} bytes " +
                "(not whole records)";
            string? sum = length == bytes && md5 is not null ? Md5(path) : null;
            checks.Add(new FileCheck(name, records + (sum is null ? "" : $", MD5 {sum}"), expected,
                length == bytes && (md5 is null || sum == md5)));
        }
    }

    private static FileCheck IdxFile(string folder, string name, int count)
    {
        var path = new[] { name, name + ".gz" }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists);
        string expected = $"{count:N0} " +
            $"{(name.Contains("images", StringComparison.Ordinal) ? "images of 28x28" : "labels")}";
        if (path is null) return new FileCheck(name, "missing", expected, false);
        try
        {
            var (dims, _) = IdxReader.ReadIdx(path, name.Contains("images", StringComparison.Ordinal) ? 3 : 1);
            string found = dims.Length == 3 ? $"{dims[0]:N0} images of {dims[1]}x{dims[2]}" : $"{dims[0]:N0} labels";
            return new FileCheck(Path.GetFileName(path), found, expected, found == expected);
        }
        catch (DataFormatException e)
        {
            return new FileCheck(Path.GetFileName(path), e.Message, expected, false);
        }
    }

    private static string Md5(string path)
    {
        using var stream = File.OpenRead(IO.RegularFile.Resolve(path).FullName);
        return Convert.ToHexStringLower(MD5.HashData(stream));
    }
}
