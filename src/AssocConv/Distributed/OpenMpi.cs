using System.Runtime.InteropServices;

namespace AssocConv.Distributed;

/// <summary>
/// The few calls of Open MPI's C library that data-parallel training needs. MPI.NET 1.4.0, the NuGet package, binds
/// MS-MPI (msmpi.dll, integer handles) and cannot talk to Open MPI, whose handles are the addresses of exported
/// globals (<c>MPI_COMM_WORLD</c> is <c>&amp;ompi_mpi_comm_world</c>): those addresses are looked up here.
/// </summary>
internal static class OpenMpi
{
    private const string Library = "libmpi.so.40";

    // Open MPI's plugins resolve libmpi's symbols globally: load it RTLD_NOW | RTLD_GLOBAL before any call
    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern IntPtr DlOpen(string file, int mode);

    private static readonly Lazy<IntPtr> Handle = new(() =>
    {
        if (DlOpen(Library, 0x102) == IntPtr.Zero || !NativeLibrary.TryLoad(Library, out var handle))
            throw new DllNotFoundException($"{Library} (Open MPI) is not installed: on Debian, apt-get install " +
                "openmpi-bin");
        return handle;
    });

    private static IntPtr Symbol(string name) => NativeLibrary.GetExport(Handle.Value, name);

    // looked up once: every collective of every training step passes them
    private static readonly Lazy<IntPtr> CommWorldHandle = new(() => Symbol("ompi_mpi_comm_world")),
        FloatHandle = new(() => Symbol("ompi_mpi_float")), DoubleHandle = new(() => Symbol("ompi_mpi_double")),
        SumHandle = new(() => Symbol("ompi_mpi_op_sum")), MaxHandle = new(() => Symbol("ompi_mpi_op_max"));

    public static IntPtr CommWorld => CommWorldHandle.Value;
    public static IntPtr Float => FloatHandle.Value;
    public static IntPtr Double => DoubleHandle.Value;
    public static IntPtr Sum => SumHandle.Value;
    public static IntPtr Max => MaxHandle.Value;

    /// <summary>Open MPI's <c>MPI_IN_PLACE</c>.</summary>
    public static readonly IntPtr InPlace = 1;

    [DllImport(Library, EntryPoint = "MPI_Initialized")]
    public static extern int Initialized(out int flag);

    [DllImport(Library, EntryPoint = "MPI_Init_thread")]
    public static extern int InitThread(IntPtr argc, IntPtr argv, int required, out int provided);

    [DllImport(Library, EntryPoint = "MPI_Finalize")]
    public static extern int Finalize();

    [DllImport(Library, EntryPoint = "MPI_Comm_rank")]
    public static extern int CommRank(IntPtr comm, out int rank);

    [DllImport(Library, EntryPoint = "MPI_Comm_size")]
    public static extern int CommSize(IntPtr comm, out int size);

    [DllImport(Library, EntryPoint = "MPI_Allreduce")]
    public static extern int Allreduce(IntPtr send, IntPtr receive, int count, IntPtr type, IntPtr op, IntPtr comm);

    [DllImport(Library, EntryPoint = "MPI_Bcast")]
    public static extern int Bcast(IntPtr buffer, int count, IntPtr type, int root, IntPtr comm);

    [DllImport(Library, EntryPoint = "MPI_Barrier")]
    public static extern int Barrier(IntPtr comm);

    [DllImport(Library, EntryPoint = "MPI_Abort")]
    public static extern int Abort(IntPtr comm, int code);
}
