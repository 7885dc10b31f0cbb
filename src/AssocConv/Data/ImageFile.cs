using SkiaSharp;

namespace AssocConv.Data;

/// <summary>Decodes an image file (PNG, JPEG, BMP, GIF, WebP) with SkiaSharp, resized, as <c>uint8</c> channel planes.</summary>
public static class ImageFile
{
    /// <summary>File extensions read as images.</summary>
    public static IReadOnlySet<string> Extensions { get; } =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    /// <summary>
    /// The image at <paramref name="path"/>, resized to <paramref name="height"/> x <paramref name="width"/> and
    /// returned as <c>channels * height * width</c> bytes, channel-major (RGB, or luminance for 1 channel).
    /// </summary>
    /// <exception cref="DataFormatException">The file is missing or not a decodable image.</exception>
    public static byte[] Read(string path, int channels, int height, int width)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"images have 1 or 3 channels, not {channels}");
        if (!File.Exists(path)) throw new DataFormatException(path, "missing");
        using var decoded = SKBitmap.Decode(path) ?? throw new DataFormatException(path, "not an image SkiaSharp can decode (PNG, JPEG, BMP, GIF, WebP)");
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var resized = decoded.Width == width && decoded.Height == height && decoded.ColorType == SKColorType.Rgba8888
            ? decoded.Copy()
            : decoded.Resize(info, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
              ?? throw new DataFormatException(path, $"could not be resized to {width}x{height}");
        using var rgba = resized.ColorType == SKColorType.Rgba8888 ? resized.Copy() : resized.Copy(SKColorType.Rgba8888);
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
