namespace AssocConv.Data;

/// <summary>The datasets <see cref="DatasetSpec"/> names.</summary>
public enum DatasetKind
{
    /// <summary>CIFAR-10, official binary layout.</summary>
    Cifar10,
    /// <summary>CIFAR-100, official binary layout (fine labels).</summary>
    Cifar100,
    /// <summary>Fashion-MNIST, IDX files.</summary>
    FashionMnist,
    /// <summary>MNIST, IDX files.</summary>
    Mnist,
    /// <summary>A folder of images, one sub-folder per class.</summary>
    Folder,
    /// <summary>The Fashion-MNIST sample compiled into the library.</summary>
    Sample,
}

/// <summary>
/// What <c>--data</c> names: <c>cifar10[:DIR]</c>, <c>cifar100[:DIR]</c>, <c>fashion-mnist[:DIR]</c>,
/// <c>mnist[:DIR]</c>, <c>folder:DIR</c> or <c>sample</c>. DIR is the folder holding the dataset's files;
/// a bare name is looked for in <c>$ASSOCCONV_DATA</c>, then <c>~/.cache/assocconv/datasets</c>, then (for
/// Fashion-MNIST) Debian's <c>/usr/share/datasets/fashion-mnist</c>.
/// </summary>
/// <param name="Kind">Which dataset.</param>
/// <param name="Folder">The folder given after the colon, or null.</param>
public sealed record DatasetSpec(DatasetKind Kind, string? Folder)
{
    /// <summary>The spec as <c>--data</c> spells it.</summary>
    public string Name => Kind switch
    {
        DatasetKind.Cifar10 => "cifar10",
        DatasetKind.Cifar100 => "cifar100",
        DatasetKind.FashionMnist => "fashion-mnist",
        DatasetKind.Mnist => "mnist",
        DatasetKind.Folder => "folder",
        _ => "sample",
    };

    /// <inheritdoc />
    public override string ToString() => Folder is null ? Name : $"{Name}:{Folder}";

    /// <summary>Parses a <c>--data</c> value.</summary>
    /// <exception cref="FormatException">An unknown name, <c>folder</c> without a folder, or <c>sample</c> with
    /// one.</exception>
    public static DatasetSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.IndexOf(':');
        string name = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        string? folder = colon < 0 ? null : text[(colon + 1)..];
        if (folder is { Length: 0 }) throw new FormatException($"'{text}': nothing after the colon; give the " +
            "dataset's folder");
        var kind = name switch
        {
            "cifar10" or "cifar-10" => DatasetKind.Cifar10,
            "cifar100" or "cifar-100" => DatasetKind.Cifar100,
            "fashion-mnist" or "fashionmnist" => DatasetKind.FashionMnist,
            "mnist" => DatasetKind.Mnist,
            "folder" => DatasetKind.Folder,
            "sample" => DatasetKind.Sample,
            _ => throw new FormatException(
                $"unknown dataset '{name}'; use cifar10[:DIR], cifar100[:DIR], fashion-mnist[:DIR], mnist[:DIR], " +
                    "folder:DIR or sample"),
        };
        if (kind == DatasetKind.Folder && folder is null) throw new FormatException("folder needs its " +
            "path: folder:DIR");
        if (kind == DatasetKind.Sample && folder is not null) throw new FormatException("sample is built in and " +
            "takes no folder");
        return new DatasetSpec(kind, folder);
    }

    /// <summary>Sub-folder names a bare name is looked for under each search root, first the official
    /// archive's.</summary>
    internal string[] FolderNames => Kind switch
    {
        DatasetKind.Cifar10 => ["cifar-10-batches-bin", "cifar10"],
        DatasetKind.Cifar100 => ["cifar-100-binary", "cifar100"],
        DatasetKind.FashionMnist => ["fashion-mnist"],
        DatasetKind.Mnist => ["mnist"],
        _ => [],
    };

    /// <summary>Where a bare name is looked for, in order.</summary>
    public IReadOnlyList<string> SearchFolders()
    {
        var roots = new List<string>();
        if (Environment.GetEnvironmentVariable("ASSOCCONV_DATA") is { Length: > 0 } env) roots.Add(env);
        roots.Add(DefaultCacheRoot);
        var folders = roots.SelectMany(r => FolderNames.Select(n => Path.Combine(r, n))).ToList();
        if (Kind == DatasetKind.FashionMnist) folders.Add("/usr/share/datasets/fashion-mnist");
        return folders;
    }

    /// <summary><c>~/.cache/assocconv/datasets</c>, where <c>assocconv data download</c> puts datasets.</summary>
    public static string DefaultCacheRoot =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "assocconv",
            "datasets");
}
