namespace Berth.Engine;

/// <summary>An error the API returns as Docker's {"message": ...} with this HTTP status.</summary>
public class EngineException(int status, string message, Exception? inner = null) : Exception(message, inner)
{
    public int Status { get; } = status;
}

public sealed class NotFoundException(string message) : EngineException(404, message);
public sealed class ConflictException(string message) : EngineException(409, message);
public sealed class BadRequestException(string message, Exception? inner = null) : EngineException(400, message, inner);
/// <summary>304: the container was already in the asked-for state (start of a running one, stop of a stopped one).</summary>
/// <summary>dockerd's 501: the operation exists but this configuration cannot do it (logs of the "none" driver).
/// </summary>
public sealed class UnsupportedException(string message) : EngineException(501, message);
public sealed class NotModifiedException() : EngineException(304, "");
