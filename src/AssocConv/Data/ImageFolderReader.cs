using static TorchSharp.torch;

namespace AssocConv.Data;

/// <summary>
/// A folder of images, one sub-folder per class: <c>DIR/train/CLASS/*</c> and <c>DIR/test/CLASS/*</c>, or
/// just <c>DIR/CLASS/*</c> (then every tenth image of each class, in name order, is the test set). Images
/// are decoded with SkiaSharp and resized; the normalisation is the training images' own statistics.
/// </summary>
public static class ImageFolderReader
{
    /// <summary>Reads the folder, resizing every image to <paramref name="size"/> x <paramref name="size"/> with
    /// <paramref name="channels"/> channels.</summary>
    /// <exception cref="DataFormatException">No class folders, an empty class, a test class the training set lacks, or
    /// an undecodable image.</exception>
    public static (LabeledImages Train, LabeledImages Test,
        Normalization Normalization) Read(string folder, int size = 32, int channels = 3)
    {
        string train = Path.Combine(folder, "train"), test = Path.Combine(folder, "test");
        List<(string Path, int Label)> trainFiles, testFiles;
        string[] classes;
        if (Directory.Exists(train) && Directory.Exists(test))
        {
            classes = ClassFolders(train);
            trainFiles = Files(train, classes);
            testFiles = Files(test, classes);
            var extra = ClassFolders(test).Except(classes).ToList();
            if (extra.Count > 0) throw new DataFormatException(test,
                $"classes the training set lacks: {string.Join(", ", extra)}");
        }
        else
        {
            classes = ClassFolders(folder);
            var all = Files(folder, classes);
            testFiles = all.Where((_, i) => i % 10 == 9).ToList();
            trainFiles = all.Where((_, i) => i % 10 != 9).ToList();
        }
        var trainSet = Load(trainFiles, classes, size, channels);
        var testSet = Load(testFiles, classes, size, channels);
        var (mean, std) = trainSet.ChannelStatistics();
        return (trainSet, testSet, new Normalization(mean, std.Select(s => Math.Max(s, 1e-3)).ToArray()));
    }

    private static string[] ClassFolders(string folder)
    {
        var classes = Directory.GetDirectories(folder).Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith('.')).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        if (classes.Length == 0) throw new DataFormatException(folder,
            "no class folders (expected DIR/CLASS/image files, or DIR/train/CLASS and DIR/test/CLASS)");
        if (DisplayText.ClassNameProblem(classes) is { } unfit)
            throw new DataFormatException(folder, $"{unfit}; rename that folder");
        return classes;
    }

    private static List<(string, int)> Files(string folder, string[] classes)
    {
        var files = new List<(string, int)>();
        for (int c = 0; c < classes.Length; c++)
        {
            var dir = Path.Combine(folder, classes[c]);
            var images = Directory.Exists(dir)
                ? Directory.GetFiles(dir).Where(f => ImageFile.Extensions.Contains(Path.GetExtension(f)))
                    .OrderBy(f => f, StringComparer.Ordinal).ToList()
                : [];
            if (images.Count == 0) throw new DataFormatException(dir,
                "no images (png, jpg, jpeg, bmp, gif, webp) in this class folder");
            files.AddRange(images.Select(f => (f, c)));
        }
        return files;
    }

    private static LabeledImages Load(List<(string Path, int Label)> files, string[] classes, int size, int channels)
    {
        int per = channels * size * size;
        var pixels = new byte[(long)files.Count * per];
        try
        {
            Parallel.For(0, files.Count,
                i => ImageFile.Read(files[i].Path, channels, size, size).CopyTo(pixels, (long)i * per));
        }
        catch (AggregateException e)
        {
            // the first file's own error, not the parallel loop's wrapper
            var first = e.InnerExceptions.FirstOrDefault(x => x is DataFormatException) ?? e.InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        var labels = files.Select(f => (long)f.Label).ToArray();
        return new LabeledImages(tensor(pixels, new long[] { files.Count, channels, size, size }), tensor(labels),
            classes);
    }
}
