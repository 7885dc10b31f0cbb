using SkiaSharp;

namespace AssocConv.Data;

/// <summary>Decodes an image file (PNG, JPEG, BMP, GIF, WebP) with SkiaSharp, resized, as <c>uint8</c> channel
/// planes.</summary>
public static class ImageFile
{
    /// <summary>File extensions read as images.</summary>
    public static IReadOnlySet<string> Extensions { get; } =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    /// <summary>Pixels an image may declare (a 64-megapixel photograph; decoding takes 4 bytes per pixel).</summary>
    public const long MaxPixels = 64L << 20;

    /// <summary>
    /// The image at <paramref name="path"/>, resized to <paramref name="height"/> x <paramref name="width"/> and
    /// returned as <c>channels * height * width</c> bytes, channel-major (RGB, or luminance for 1 channel).
    /// </summary>
    /// <exception cref="DataFormatException">The file is missing or not a decodable image.</exception>
    public static byte[] Read(string path, int channels, int height, int width)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"images have 1 or 3 channels, not {channels}");
        if (Directory.Exists(path)) throw new DataFormatException(path, "is a directory, not an image");
        if (!File.Exists(path)) throw new DataFormatException(path, "missing");
        // the size an image declares is checked before its pixels are decoded: a small file can declare gigapixels
        using var codec = SKCodec.Create(path) ?? throw new DataFormatException(path,
            "not an image SkiaSharp can decode (PNG, JPEG, BMP, GIF, WebP)");
        long declared = (long)codec.Info.Width * codec.Info.Height;
        if (codec.Info.Width < 1 || codec.Info.Height < 1 || declared > MaxPixels)
            throw new DataFormatException(path,
                $"declares {codec.Info.Width:N0}x{codec.Info.Height:N0} pixels, more than the {MaxPixels:N0} read");
        using var decoded = SKBitmap.Decode(codec) ?? throw new DataFormatException(path,
            "damaged: its pixels could not be decoded");
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var resized = decoded.Width == width && decoded.Height == height
            && decoded.ColorType == SKColorType.Rgba8888
            ? decoded.Copy()
            : decoded.Resize(info, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
              ?? throw new DataFormatException(path, $"could not be resized to {width}x{height}");
        using var rgba = resized.ColorType == SKColorType.Rgba8888 ? resized.Copy()
            : resized.Copy(SKColorType.Rgba8888);
        var pixels = rgba.GetPixelSpan();
        int plane = height * width;
        var result = new byte[channels * plane];
        for (int i = 0; i < plane; i++)
        {
            byte r = pixels[4 * i], g = pixels[4 * i + 1], b = pixels[4 * i + 2];
            if (channels == 3)
            {
                result[i] = r;
                result[plane + i] = g;
                result[2 * plane + i] = b;
            }
            else
            {
                result[i] = (byte)Math.Round(0.299 * r + 0.587 * g + 0.114 * b);
            }
        }
        return result;
    }
}
