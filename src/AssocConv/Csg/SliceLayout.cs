namespace AssocConv.Csg;

/// <summary>How a layer's generated slices are laid out to fill its kernel.</summary>
public enum SliceLayout
{
    /// <summary>
    /// The authors' rule, so their trained weights give the same outputs: all slices, generated in
    /// order, are viewed contiguously as a <c>[ceil(out/S)*S, ceil(in/S)*S, kh, kw]</c> kernel and
    /// cropped to <c>[:out, :in, :k, :k]</c>. Needs square slices (<c>S = slice.Out = slice.In</c>).
    /// </summary>
    Reference,

    /// <summary>
    /// Each slice is one <c>sliceOut x sliceIn</c> block of the (output, input) channel grid, in row-major
    /// block order, as the paper's figure draws it; any slice shape.
    /// </summary>
    Blocked,
}
