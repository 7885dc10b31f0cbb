namespace AssocConv.Data;

/// <summary>A folder of images, one sub-folder per class (to come: decoding with SkiaSharp).</summary>
public static class ImageFolderReader
{
    /// <summary>Reads <c>DIR/train/CLASS/*</c> and <c>DIR/test/CLASS/*</c>.</summary>
    public static (LabeledImages Train, LabeledImages Test, Normalization Normalization) Read(string folder) =>
        throw new DataFormatException(folder, "reading image folders is not implemented yet");
}
