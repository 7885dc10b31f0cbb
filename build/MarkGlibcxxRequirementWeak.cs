using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// MSBuild inline task (see TorchSharpGlibcxxFix.targets): sets VER_FLG_WEAK on the Elf64_Vernaux
// entry naming VersionTag in every libLibTorchSharp.so below Folders, when the system's
// libstdc++ does not define that tag. A weak version requirement that is not met is only
// reported, not fatal, by the glibc loader.
public class MarkGlibcxxRequirementWeak : Task
{
    [Required] public string[] Folders { get; set; }
    [Required] public string VersionTag { get; set; }

    const string LibraryName = "libLibTorchSharp.so";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        var systemLibrary = FindSystemLibstdcxx();
        if (systemLibrary != null && ContainsTag(File.ReadAllBytes(systemLibrary), VersionTag))
        {
            Log.LogMessage(MessageImportance.Low, "{0} defines {1}; {2} left as it is.", systemLibrary, VersionTag,
                LibraryName);
            return true;
        }
        var seen = new HashSet<string>();
        foreach (var folder in Folders)
        {
            if (string.IsNullOrWhiteSpace(folder) || !Directory.Exists(folder)) continue;
            foreach (var path in Directory.EnumerateFiles(folder, LibraryName, SearchOption.AllDirectories))
            {
                var full = Path.GetFullPath(path);
                if (!seen.Add(full)) continue;
                try
                {
                    Patch(full);
                }
                catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
                {
                    Log.LogError("Could not mark {0} weak in {1}: {2}", VersionTag, full, e.Message);
                }
            }
        }
        return !Log.HasLoggedErrors;
    }

    void Patch(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long flagsOffset = FindVernauxFlagsOffset(bytes, VersionTag);
        if (flagsOffset < 0)
        {
            Log.LogMessage(MessageImportance.Low, "{0} does not require {1}.", path, VersionTag);
            return;
        }
        ushort flags = BitConverter.ToUInt16(bytes, (int)flagsOffset);
        if ((flags & VerFlgWeak) != 0) return;   // already done in an earlier build
        flags |= VerFlgWeak;
        // Write a patched copy and rename it over the original: the output file may be a hard
        // link into the NuGet cache, which must stay untouched.
        var temp = path + ".weak-tmp";
        File.Copy(path, temp, true);
        using (var stream = new FileStream(temp, FileMode.Open, FileAccess.Write))
        {
            stream.Seek(flagsOffset, SeekOrigin.Begin);
            stream.WriteByte((byte)(flags & 0xff));
            stream.WriteByte((byte)(flags >> 8));
        }
        File.Delete(path);
        File.Move(temp, path);
        Log.LogMessage(MessageImportance.High, "Marked {0} weak in {1}", VersionTag, path);
    }

    // Returns the file offset of vna_flags for the entry naming tag, or -1.
    static long FindVernauxFlagsOffset(byte[] elf, string tag)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian 64-bit ELF file");
        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            long header = shoff + (long)i * shentsize;
            Check(elf, header, 64);
            if (BitConverter.ToUInt32(elf, (int)header + 4) != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(elf, (int)header + 0x18);
            uint link = BitConverter.ToUInt32(elf, (int)header + 0x28);
            uint count = BitConverter.ToUInt32(elf, (int)header + 0x2C);
            long strtabHeader = shoff + (long)link * shentsize;
            Check(elf, strtabHeader, 64);
            long strtab = (long)BitConverter.ToUInt64(elf, (int)strtabHeader + 0x18);

            long verneed = offset;
            for (uint n = 0; n < count; n++)
            {
                Check(elf, verneed, 16);
                int auxCount = BitConverter.ToUInt16(elf, (int)verneed + 2);
                long aux = verneed + BitConverter.ToUInt32(elf, (int)verneed + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    Check(elf, aux, 16);
                    uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadString(elf, strtab + name) == tag) return aux + 4;
                    uint nextAux = BitConverter.ToUInt32(elf, (int)aux + 12);
                    if (nextAux == 0) break;
                    aux += nextAux;
                }
                uint next = BitConverter.ToUInt32(elf, (int)verneed + 12);
                if (next == 0) break;
                verneed += next;
            }
        }
        return -1;
    }

    static void Check(byte[] elf, long offset, int length)
    {
        if (offset < 0 || offset + length > elf.Length) throw new InvalidDataException("truncated ELF file");
    }

    static string ReadString(byte[] elf, long offset)
    {
        Check(elf, offset, 1);
        long end = offset;
        while (end < elf.Length && elf[end] != 0) end++;
        return Encoding.ASCII.GetString(elf, (int)offset, (int)(end - offset));
    }

    static bool ContainsTag(byte[] library, string tag)
    {
        var needle = Encoding.ASCII.GetBytes(tag + "\0");
        for (int i = 0; i + needle.Length <= library.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && library[i + j] == needle[j]) j++;
            if (j == needle.Length && (i == 0 || library[i - 1] == 0)) return true;
        }
        return false;
    }

    // The libstdc++.so.6 the dynamic loader would pick, as ldconfig's cache names it.
    static string FindSystemLibstdcxx()
    {
        try
        {
            var info = new ProcessStartInfo(File.Exists("/sbin/ldconfig") ? "/sbin/ldconfig" : "ldconfig", "-p")
            { RedirectStandardOutput = true, UseShellExecute = false };
            using (var process = Process.Start(info))
            {
                string output = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                foreach (var line in output.Split('\n'))
                {
                    var trimmed = line.Trim();
                    if (!trimmed.StartsWith("libstdc++.so.6 ") || !trimmed.Contains("x86-64")) continue;
                    int arrow = trimmed.IndexOf("=> ", StringComparison.Ordinal);
                    if (arrow >= 0) return trimmed.Substring(arrow + 3).Trim();
                }
            }
        }
        catch (Exception) { /* fall through to the usual locations */ }
        foreach (var candidate in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6",
            "/usr/lib/libstdc++.so.6" })
            if (File.Exists(candidate)) return candidate;
        return null;
    }
}
