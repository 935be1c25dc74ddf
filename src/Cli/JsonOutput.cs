using System.Text.Encodings.Web;
using System.Text.Json;

namespace Pipeline.Cli;

/// <summary>
/// Writes a command's <c>--format json</c> result to stdout: indented, non-ASCII and quotes as themselves (no
/// <c>\u0022</c> escapes: the output is for scripts and people, never embedded in HTML), a final newline.
/// </summary>
internal static class JsonOutput
{
    public static void Write(Action<Utf8JsonWriter> write)
    {
        using var stream = Console.OpenStandardOutput();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(json);
            json.Flush();
        }
        stream.WriteByte((byte)'\n');
    }
}
