using AssocConv.Tests.Cli;
using AssocConv.Training;
using SkiaSharp;

namespace AssocConv.Tests.Training;

/// <summary>Plot titles: a long one is wrapped into lines that fit (measured in the title's own font), never clipped
/// at the image's edges.</summary>
public sealed class RunPlotsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-plots-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string LongTitle = "ResNet-56 on CIFAR-10 with the fast recipe: plain against associative " +
        "(12x12x3x3 slices, code 72), two seeds each, final-epoch test accuracy without test-time augmentation";

    [Fact]
    public void A_long_title_is_wrapped_at_spaces_into_lines_that_fit()
    {
        var style = new ScottPlot.Plot().Axes.Title.Label;
        var lines = RunPlots.WrapTitle(style, LongTitle, RunPlots.TitleWidth).Split('\n');
        using var paint = ScottPlot.Paint.NewDisposablePaint();
        Assert.True(style.Measure(LongTitle, paint).Size.Width > 2 * RunPlots.TitleWidth);   // else nothing to wrap
        Assert.True(lines.Length >= 3, string.Join(" | ", lines));
        Assert.All(lines, line => Assert.True(style.Measure(line, paint).Size.Width <= RunPlots.TitleWidth, line));
        Assert.Equal(LongTitle, string.Join(' ', lines));
        const string Short = "ResNet-56, fast recipe";
        Assert.Equal(Short, RunPlots.WrapTitle(style, Short, RunPlots.TitleWidth));
        var word = new string('w', 80);   // wider than a line: kept whole, on its own line
        Assert.Equal($"a\n{word}\nb", RunPlots.WrapTitle(style, $"a {word} b", RunPlots.TitleWidth));
    }

    [Fact]
    public void A_long_title_leaves_the_image_edges_blank()
    {
        var path = Path.Combine(_dir, "long.png");
        Assert.Null(RunPlots.WriteComparison(path, LongTitle, "test accuracy (%)",
            [("plain", PlotCliTests.Known), ("associative", PlotCliTests.Known)], m => m.TestAccuracy));
        using var image = SKBitmap.Decode(path);
        Assert.Equal((800, 500), (image.Width, image.Height));
        // the first title line's band: drawn in one clipped line, the title would cross both edges here
        for (int y = 0; y < 40; y++)
            foreach (int x in new[] { 0, 1, 2, 3, image.Width - 4, image.Width - 3, image.Width - 2, image.Width - 1 })
                Assert.True(image.GetPixel(x, y).Red > 200, $"ink at ({x}, {y})");
        var bandInk = Enumerable.Range(0, 40).Sum(y => Enumerable.Range(0, image.Width)
            .Count(x => image.GetPixel(x, y).Red < 128));
        Assert.True(bandInk > 100, $"{bandInk} dark pixels: no title drawn");
    }
}
