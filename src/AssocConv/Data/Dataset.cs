using System.Text.Json.Nodes;

namespace AssocConv.Data;

/// <summary>A dataset's training and test sets with the normalisation inputs get; owns both sets.</summary>
/// <param name="Spec">What was asked for.</param>
/// <param name="Source">Where it was read from (a folder, or the embedded sample).</param>
/// <param name="Train">The training set.</param>
/// <param name="Test">The test set.</param>
/// <param name="Normalization">Per-channel mean and standard deviation.</param>
public sealed record Dataset(DatasetSpec Spec, string Source, LabeledImages Train, LabeledImages Test,
    Normalization Normalization) : IDisposable
{
    /// <summary>Number of classes.</summary>
    public int NumClasses => Train.ClassNames.Count;

    /// <summary>Reads the dataset <paramref name="spec"/> names.</summary>
    /// <exception cref="DataFormatException">The folder is not found (the message says where it looked) or a file is
    /// bad.</exception>
    public static Dataset Load(DatasetSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Kind == DatasetKind.Sample) return LoadSample(spec);
        var folder = Locate(spec);
        var (train, test, normalization) = spec.Kind switch
        {
            DatasetKind.Cifar10 => With(CifarReader.ReadCifar10(folder), Normalization.Cifar10),
            DatasetKind.Cifar100 => With(CifarReader.ReadCifar100(folder), Normalization.Cifar100),
            DatasetKind.FashionMnist => With(IdxReader.ReadFolder(folder, IdxReader.FashionMnistClasses),
                Normalization.FashionMnist),
            DatasetKind.Mnist => With(IdxReader.ReadFolder(folder, IdxReader.MnistClasses), Normalization.Mnist),
            DatasetKind.Folder => ImageFolderReader.Read(folder),
            _ => throw new ArgumentOutOfRangeException(nameof(spec)),
        };
        return new Dataset(spec, folder, train, test, normalization);
    }

    private static (LabeledImages, LabeledImages,
        Normalization) With((LabeledImages Train, LabeledImages Test) sets, Normalization n) =>
        (sets.Train, sets.Test, n);

    /// <summary>The folder <paramref name="spec"/> names, or the first of its search folders that exists.</summary>
    /// <exception cref="DataFormatException">Not found; the message says where it looked.</exception>
    public static string Locate(DatasetSpec spec)
    {
        if (spec.Folder is { } given)
        {
            if (!Directory.Exists(given)) throw new DataFormatException(given, "no such folder");
            return given;
        }
        var searched = spec.SearchFolders();
        return searched.FirstOrDefault(Directory.Exists) ?? throw new DataFormatException(spec.Name,
            $"not found; looked in {string.Join(", ", searched)}. Give the folder ({spec.Name}:DIR)" +
            (spec.Kind is DatasetKind.Folder ? "" : $" or fetch it with 'assocconv data download {spec.Name}'"));
    }

    /// <summary>The Fashion-MNIST sample compiled into the library: 8,000 training and 2,000 test images.</summary>
    public static Dataset LoadSample(DatasetSpec? spec = null)
    {
        static (string, byte[]) Resource(string name)
        {
            var assembly = typeof(Dataset).Assembly;
            using var stream = assembly.GetManifestResourceStream($"AssocConv.Sample.{name}")
                ?? throw new InvalidOperationException($"the embedded sample file {name} is missing from " +
                    $"{assembly.GetName().Name}");
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            return ($"sample/{name}", memory.ToArray());
        }
        LabeledImages Pair(string prefix)
        {
            var (imagesName, images) = Resource($"{prefix}-images-idx3-ubyte.gz");
            var (labelsName, labels) = Resource($"{prefix}-labels-idx1-ubyte.gz");
            return IdxReader.ReadPair(imagesName, images, labelsName, labels, IdxReader.FashionMnistClasses);
        }
        return new Dataset(spec ?? new DatasetSpec(DatasetKind.Sample, null), "embedded Fashion-MNIST sample",
            Pair("train"), Pair("t10k"), Normalization.FashionMnist);
    }

    /// <summary>What a checkpoint records of this data (<see cref="DataDescription"/>).</summary>
    public DataDescription Description => new(Spec.ToString(), Source, Train.ClassNames, Normalization,
        (int)Train.Channels, (int)Train.Height, (int)Train.Width);

    /// <summary>What a checkpoint records of its data, so that evaluation and prediction need no other input: the
    /// spec, the source, class names, normalisation and image shape.</summary>
    public JsonObject ToJson() => Description.ToJson();

    /// <inheritdoc />
    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}
