using System.Buffers.Binary;
using Pipeline.Ingest.TraceDat;

namespace Pipeline.Ingest.Tests.TraceDat;

public class BinaryPrintfTests
{
    [SkippableFact]
    public void Format_PackedArguments_FollowsVbinPrintfAlignment()
    {
        var args = new byte[24];
        "ab\0"u8.CopyTo(args);                                        // %s: inline, NUL-terminated
        BinaryPrimitives.WriteInt64LittleEndian(args.AsSpan(4), -2);  // %ld: 4-byte aligned
        BinaryPrimitives.WriteInt32LittleEndian(args.AsSpan(12), 0x1f); // %x
        BinaryPrimitives.WriteInt32LittleEndian(args.AsSpan(16), 6);  // * width
        args[20] = (byte)'z';                                         // %c
        Assert.Equal("s=ab l=-2 x=0x1f c=     z", BinaryPrintf.Format("s=%s l=%ld x=%#x c=%*c", args, bigEndian: false));
    }

    [SkippableFact]
    public void Format_ArgumentsCutShort_SaysSoInsteadOfThrowing()
    {
        Assert.Equal("a=7 b=[truncated arguments]", BinaryPrintf.Format("a=%d b=%lu", [7, 0, 0, 0, 1], bigEndian: false));
    }

    [SkippableFact]
    public void ParsePrintkFormats_ReadsAddressesAndUnescapes()
    {
        var formats = BinaryPrintf.ParsePrintkFormats("0xffffffc00082dbd8 : \"fig: cpu=%d\\n gid=%d\\n\"\nnot a line\n0x10 : \"plain\"\n"u8);
        Assert.Equal("fig: cpu=%d\n gid=%d\n", formats[0xffffffc00082dbd8]);
        Assert.Equal("plain", formats[0x10]);
        Assert.Equal(2, formats.Count);
    }
}
