#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Open MPI's C entry points and predefined handles, found with `dlopen` when a run starts under
/// `mpirun`, so that Tandem builds and runs on one process without any MPI package installed.
///
/// Open MPI's handles (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`, ...) are addresses of exported
/// objects (`ompi_mpi_comm_world`, ...), and `MPI_IN_PLACE` is the address 1: this is Open MPI's ABI
/// (Debian's Open MPI 4.1 ships it as libmpi.so.40), not MPICH's, whose handles are integers.
struct MPILibrary: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    typealias Request = UnsafeMutableRawPointer?

    let initialize: @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32
    let initialized: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let finalize: @convention(c) () -> Int32
    let finalized: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let commRank: @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    let commSize: @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    let setErrorHandler: @convention(c) (Handle, Handle) -> Int32
    let iallreduce: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle,
                                    UnsafeMutablePointer<Request>) -> Int32
    let allreduce: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32
    let ibcast: @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle, UnsafeMutablePointer<Request>) -> Int32
    let iallgather: @convention(c) (UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?, Int32, Handle, Handle,
                                    UnsafeMutablePointer<Request>) -> Int32
    let ibarrier: @convention(c) (Handle, UnsafeMutablePointer<Request>) -> Int32
    let test: @convention(c) (UnsafeMutablePointer<Request>, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer?) -> Int32
    let abort: @convention(c) (Handle, Int32) -> Int32
    let errorString: @convention(c) (Int32, UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32
    let libraryVersion: @convention(c) (UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32

    let commWorld: Handle
    let float: Handle
    let double: Handle
    let byte: Handle
    let sum: Handle
    let max: Handle
    let errorsReturn: Handle
    /// `MPI_IN_PLACE` in Open MPI.
    let inPlace = UnsafeMutableRawPointer(bitPattern: 1)!

    /// The library tried: `TANDEM_MPI_LIBRARY` when set (the path of another Open MPI installation's
    /// libmpi.so), else Debian's names, in order.
    static var names: [String] {
        if let path = getenv("TANDEM_MPI_LIBRARY") { return [String(cString: path)] }
        return ["libmpi.so.40", "libmpi.so"]
    }

    /// Loads libmpi and every symbol; throws a message that says which package to install.
    static func load() throws -> MPILibrary {
        // RTLD_GLOBAL: Open MPI's plugins (libmca_*) resolve their symbols against libmpi's.
        var library: UnsafeMutableRawPointer?
        var errors: [String] = []
        for name in names {
            if let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) { library = handle; break }
            errors.append(dlerror().map { String(cString: $0) } ?? name)
        }
        guard let library else {
            throw CommunicatorError.unavailable(message: "this process runs under MPI (\(MPIEnvironment.describe())), but Open MPI's library could not be loaded (\(errors.joined(separator: "; "))); install it: apt-get install openmpi-bin libopenmpi3 (Debian 12)")
        }
        func symbol<T>(_ name: String, as: T.Type = T.self) throws -> T {
            guard let pointer = dlsym(library, name) else {
                throw CommunicatorError.unavailable(message: "the MPI library has no symbol \(name): Tandem needs Open MPI (4.x, libmpi.so.40); MPICH and others are not supported")
            }
            return unsafeBitCast(pointer, to: T.self)
        }
        func object(_ name: String) throws -> Handle {
            guard let pointer = dlsym(library, name) else {
                throw CommunicatorError.unavailable(message: "the MPI library has no object \(name): Tandem needs Open MPI (4.x, libmpi.so.40); MPICH and others are not supported")
            }
            return pointer
        }
        return MPILibrary(
            initialize: try symbol("MPI_Init"), initialized: try symbol("MPI_Initialized"), finalize: try symbol("MPI_Finalize"),
            finalized: try symbol("MPI_Finalized"), commRank: try symbol("MPI_Comm_rank"), commSize: try symbol("MPI_Comm_size"),
            setErrorHandler: try symbol("MPI_Comm_set_errhandler"), iallreduce: try symbol("MPI_Iallreduce"), allreduce: try symbol("MPI_Allreduce"),
            ibcast: try symbol("MPI_Ibcast"), iallgather: try symbol("MPI_Iallgather"), ibarrier: try symbol("MPI_Ibarrier"),
            test: try symbol("MPI_Test"), abort: try symbol("MPI_Abort"), errorString: try symbol("MPI_Error_string"),
            libraryVersion: try symbol("MPI_Get_library_version"),
            commWorld: try object("ompi_mpi_comm_world"), float: try object("ompi_mpi_float"), double: try object("ompi_mpi_double"),
            byte: try object("ompi_mpi_byte"), sum: try object("ompi_mpi_op_sum"), max: try object("ompi_mpi_op_max"),
            errorsReturn: try object("ompi_mpi_errors_return"))
    }

    /// The text of MPI error `code`.
    func message(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        guard errorString(code, &text, &length) == 0 else { return "MPI error \(code)" }
        return String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The library's own version line ("Open MPI v4.1.4, ...").
    func version() -> String {
        var text = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        guard libraryVersion(&text, &length) == 0 else { return "Open MPI" }
        let line = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(line.split(separator: ",").first ?? "Open MPI")
    }
}

/// What the launcher put in the environment.
public enum MPIEnvironment {
    /// The variables that carry the rank and the size: Open MPI's, then PMIx's and PMI's (Slurm, Hydra).
    static let sizeVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"]
    static let rankVariables = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"]

    /// The number of ranks the launcher started, from the environment; nil when not started by one.
    public static var launchedSize: Int? {
        for name in sizeVariables { if let value = getenv(name).map({ String(cString: $0) }), let size = Int(value) { return size } }
        return nil
    }

    /// This process's rank from the environment; nil when not started by a launcher.
    public static var launchedRank: Int? {
        for name in rankVariables { if let value = getenv(name).map({ String(cString: $0) }), let rank = Int(value) { return rank } }
        return nil
    }

    /// The variables found, for messages.
    static func describe() -> String {
        (sizeVariables + rankVariables).compactMap { name in getenv(name).map { "\(name)=\(String(cString: $0))" } }.joined(separator: " ")
    }
}
