using AssocConv.Csg;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Csg;

/// <summary>
/// The generated kernel against the layout rules computed element by element in plain C#
/// (no tensor ops): flat[s, e] = sum_c code[s, c] * W[e, c], then the layout's index map.
/// </summary>
public class KernelLayoutTests
{
    private static double[] IndependentKernel(AssociativeConv2d layer)
    {
        var slice = layer.Generator.Slice;
        int codeSize = layer.Generator.CodeSize, E = slice.Elements;
        double[] code = Values(layer.Code), w = Values(layer.Generator.Weight);
        long outC = layer.OutChannels, inPg = layer.InChannelsPerGroup;
        long kh = layer.KernelSize.Height, kw = layer.KernelSize.Width;
        long paddedIn = layer.SliceColumns * slice.In;

        double Flat(long s, long e)
        {
            double sum = 0;
            for (int c = 0; c < codeSize; c++) sum += code[s * codeSize + c] * w[e * codeSize + c];
            return sum;
        }

        var kernel = new double[outC * inPg * kh * kw];
        long i = 0;
        for (long o = 0; o < outC; o++)
        for (long ci = 0; ci < inPg; ci++)
        for (long y = 0; y < kh; y++)
        for (long x = 0; x < kw; x++)
        {
            long s, e;
            if (layer.Generator.Layout == SliceLayout.Reference)
            {
                // position in the contiguous [ceil(out/S)*S, ceil(in/S)*S, KH, KW] view of all slices
                long linear = ((o * paddedIn + ci) * slice.KernelHeight + y) * slice.KernelWidth + x;
                s = linear / E;
                e = linear % E;
            }
            else
            {
                s = (o / slice.Out) * layer.SliceColumns + ci / slice.In;
                e = (((o % slice.Out) * slice.In + ci % slice.In) * slice.KernelHeight + y) * slice.KernelWidth + x;
            }
            kernel[i++] = Flat(s, e);
        }
        return kernel;
    }

    public static TheoryData<string, SliceLayout, int, int, int, int, int, int> Cases => new()
    {
        // name, layout, slice out, slice in, in, out, kernel, groups
        { "reference uncropped", SliceLayout.Reference, 4, 4, 8, 8, 3, 1 },
        { "reference cropped channels", SliceLayout.Reference, 4, 4, 6, 10, 3, 1 },
        { "reference 1x1 from 3x3", SliceLayout.Reference, 4, 4, 8, 5, 1, 1 },
        { "reference grouped", SliceLayout.Reference, 4, 4, 12, 8, 3, 2 },
        { "reference depthwise", SliceLayout.Reference, 4, 4, 6, 6, 3, 6 },
        { "blocked uncropped", SliceLayout.Blocked, 4, 4, 8, 8, 3, 1 },
        { "blocked non-square cropped", SliceLayout.Blocked, 3, 5, 7, 8, 3, 1 },
        { "blocked 1x1 from 3x3", SliceLayout.Blocked, 2, 3, 5, 4, 1, 1 },
        { "blocked grouped", SliceLayout.Blocked, 3, 2, 8, 6, 3, 2 },
        { "blocked 2x2 from 3x3", SliceLayout.Blocked, 4, 4, 8, 5, 2, 1 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Generated_kernel_equals_the_layout_rule_computed_by_hand(string name, SliceLayout layout,
        int sliceOut, int sliceIn, int inChannels, int outChannels, int kernel, int groups)
    {
        torch.manual_seed(7);
        var generator = new ConvolutionalSliceGenerator(new GeneratorOptions
        {
            Slice = new SliceShape(sliceOut, sliceIn), CodeSize = 5, Layout = layout,
        });
        var layer = new AssociativeConv2d(generator, inChannels, outChannels, kernel, groups: groups, name: name);

        using var generated = layer.GenerateKernel();
        Assert.Equal(new long[] { outChannels, inChannels / groups, kernel, kernel }, generated.shape);
        var expected = IndependentKernel(layer);
        var actual = Values(generated);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5, $"{name}: element {i}: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public void Slice_count_follows_the_padded_grid()
    {
        var generator = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(12, 12),
            CodeSize = 8 });
        // ResNet stage transition 16 -> 32: ceil(32/12) * ceil(16/12) = 3 * 2
        var layer = new AssociativeConv2d(generator, 16, 32, 3, stride: 2, padding: 1);
        Assert.Equal(6, layer.NumSlices);
        Assert.Equal(new long[] { 6, 8 }, layer.Code.shape);
    }

    /// <summary>Kernels of one layer under both layouts, with the same generator weight and codes.</summary>
    private static double ReferenceVersusBlockedDifference(int inChannels, int outChannels)
    {
        torch.manual_seed(3);
        var reference = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(4, 4),
            CodeSize = 6 });
        var blocked = new ConvolutionalSliceGenerator(reference.Options with { Layout = SliceLayout.Blocked });
        using (torch.no_grad()) blocked.Weight.copy_(reference.Weight);
        var a = new AssociativeConv2d(reference, inChannels, outChannels, 3);
        var b = new AssociativeConv2d(blocked, inChannels, outChannels, 3);
        using (torch.no_grad()) b.Code.copy_(a.Code);
        using var ka = a.GenerateKernel();
        using var kb = b.GenerateKernel();
        return MaxAbsDifference(ka, kb);
    }

    [Fact]
    public void Reference_and_blocked_layouts_agree_when_the_layer_is_one_slice() =>
        Assert.Equal(0.0, ReferenceVersusBlockedDifference(4, 4));

    [Fact]
    public void Reference_and_blocked_layouts_differ_for_a_multi_slice_layer() =>
        Assert.True(ReferenceVersusBlockedDifference(8, 8) > 1e-3);
}
