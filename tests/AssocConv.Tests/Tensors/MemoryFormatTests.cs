using AssocConv.Data;
using AssocConv.Tensors;
using AssocConv.Training;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Tensors;

public class MemoryFormatTests
{
    [Fact]
    public void Channels_last_has_the_nhwc_strides_and_the_same_values()
    {
        using var x = arange(120f).reshape(2, 3, 4, 5);
        using var cl = x.ToMemoryFormat(MemoryFormat.ChannelsLast);
        Assert.Equal(new long[] { 2, 3, 4, 5 }, cl.shape);
        Assert.Equal(new long[] { 60, 1, 15, 3 }, cl.stride());   // H*W*C, 1, W*C, C
        Assert.Equal(0.0, MaxAbsDifference(x, cl));
        Assert.True(cl.IsChannelsLast());
        Assert.False(cl.IsContiguousNchw());
        Assert.False(cl.is_contiguous());                          // libtorch's own check agrees it is not NCHW
        Assert.Equal(MemoryFormat.ChannelsLast, MemoryFormats.FormatOf(cl));
        // in memory, channels are innermost: element (n=0, h=0, w=1, c=0..2) follows (n=0, h=0, w=0, c=2)
        using var memory = cl.permute(0, 2, 3, 1);
        Assert.True(memory.is_contiguous());
        Assert.Equal(new[] { 0.0, 20, 40, 1, 21, 41 }, Values(memory.flatten()).Take(6));

        using var back = cl.ToMemoryFormat(MemoryFormat.Contiguous);
        Assert.True(back.is_contiguous());
        Assert.True(back.IsContiguousNchw());
        Assert.False(back.IsChannelsLast());
        Assert.Equal(0.0, MaxAbsDifference(x, back));

        // a strided slice is neither; size-1 dimensions do not decide
        using var slice = x[.., .., TensorIndex.Slice(null, null, 2), ..];
        Assert.Null(MemoryFormats.FormatOf(slice));
        using var single = zeros(1, 1, 3, 3);
        Assert.True(single.IsChannelsLast() && single.IsContiguousNchw());
        using var vector = zeros(5);
        Assert.False(vector.IsChannelsLast());
        using var same = vector.ToMemoryFormat(MemoryFormat.ChannelsLast);
        Assert.Equal(new long[] { 5 }, same.shape);
    }

    [Fact]
    public void Libtorch_convolution_keeps_channels_last_so_the_network_runs_in_it()
    {
        // independent truth: libtorch's convolution, batch norm and ReLU return NHWC strides for an NHWC input
        using var x = randn(2, 8, 6, 6);
        using var cl = x.ToMemoryFormat(MemoryFormat.ChannelsLast);
        using var w = randn(4, 8, 3, 3);
        using var y = nn.functional.conv2d(cl, w, padding: new long[] { 1, 1 });
        using var reference = nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
        Assert.True(y.IsChannelsLast());
        Assert.True(reference.IsContiguousNchw());
        Assert.True(MaxAbsDifference(y, reference) < 1e-4);
        using var bn = nn.BatchNorm2d(4);
        using var z = nn.functional.relu(bn.call(y));
        Assert.True(z.IsChannelsLast());
    }

    [Theory]
    [InlineData("nchw", MemoryFormat.Contiguous)]
    [InlineData("Channels-Last", MemoryFormat.ChannelsLast)]
    [InlineData("channels_last", MemoryFormat.ChannelsLast)]
    public void Names_parse(string text, MemoryFormat expected)
    {
        Assert.Equal(expected, MemoryFormats.Parse(text));
        Assert.Equal(expected, MemoryFormats.Parse(expected.Name()));
        Assert.Contains("channels-last", Assert.Throws<ArgumentException>(() => MemoryFormats.Parse("nwhc")).Message);
    }

    [Fact]
    public void The_pipeline_gives_the_same_batches_in_either_format()
    {
        var pixels = Enumerable.Range(0, 6 * 3 * 8 * 8).Select(i => (byte)(i * 7 % 256)).ToArray();
        using var data = new LabeledImages(tensor(pixels, new long[] { 6, 3, 8, 8 }),
            tensor(new long[] { 0, 1, 0, 1, 0, 1 }), ["a", "b"]);
        var normalization = new Normalization([0.5, 0.4, 0.3], [0.2, 0.25, 0.3]);
        var contiguous = new BatchPipeline(data, normalization, 4, shuffle: true, augment: true, seed: 2);
        var channelsLast = new BatchPipeline(data, normalization, 4, shuffle: true, augment: true, seed: 2,
            format: MemoryFormat.ChannelsLast);
        foreach (var (a, b) in contiguous.Epoch(1).Zip(channelsLast.Epoch(1)))
        {
            using (a)
            using (b)
            {
                Assert.True(a.Images.IsContiguousNchw());
                Assert.True(b.Images.IsChannelsLast());
                Assert.False(b.Images.is_contiguous());
                Assert.Equal(Values(a.Images), Values(b.Images));
                Assert.Equal(a.Labels.data<long>().ToArray(), b.Labels.data<long>().ToArray());
            }
        }
    }

    [Fact]
    public void Training_options_default_to_channels_last_and_older_runs_read_as_contiguous()
    {
        var options = new TrainingOptions();
        Assert.Equal(MemoryFormat.ChannelsLast, options.MemoryFormat);
        var json = (options with { MemoryFormat = MemoryFormat.Contiguous }).ToJson();
        Assert.Equal("contiguous", (string)json["memory_format"]!);
        Assert.Equal(MemoryFormat.Contiguous, TrainingOptions.FromJson(json).MemoryFormat);
        Assert.Equal(MemoryFormat.ChannelsLast, TrainingOptions.FromJson(options.ToJson()).MemoryFormat);
        json.Remove("memory_format");   // a run saved before the option existed
        Assert.Equal(MemoryFormat.Contiguous, TrainingOptions.FromJson(json).MemoryFormat);
    }
}
