#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sandbox/box/python_zygote.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace r1::sandbox::box {
namespace {

PyObject* g_judge = nullptr;  // judge.py, compiled once
bool g_started = false;
int64_t g_address_space_mb = 0;

int64_t vm_size_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmSize:", 0) == 0) return (std::stoll(line.substr(7)) + 1023) / 1024;
  return 0;
}

// The pending exception's exit status, as `python3` would give it: SystemExit's code (None: 0, an
// int: itself, anything else: printed, 1); any other exception: its traceback on stderr, 1.
int exit_status_of_exception() {
  if (!PyErr_ExceptionMatches(PyExc_SystemExit)) {
    PyErr_Print();
    return 1;
  }
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  int status = 0;
  PyObject* code = value ? PyObject_GetAttrString(value, "code") : nullptr;
  if (!code) {
    PyErr_Clear();
  } else if (code == Py_None) {
    status = 0;
  } else if (PyLong_Check(code)) {
    status = static_cast<int>(PyLong_AsLong(code));
    if (PyErr_Occurred()) {
      PyErr_Clear();
      status = 1;
    }
  } else {
    PyObject* text = PyObject_Str(code);
    const char* s = text ? PyUnicode_AsUTF8(text) : nullptr;
    if (s) {
      PySys_WriteStderr("%s\n", s);
    } else {
      PyErr_Clear();
    }
    Py_XDECREF(text);
    status = 1;
  }
  Py_XDECREF(code);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return status;
}

// Runs a snippet in a namespace of its own, so nothing it names shows up in the program's __main__.
void run_private(const char* code) {
  PyObject* globals = PyDict_New();
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  PyObject* r = PyRun_String(code, Py_file_input, globals, globals);
  if (!r) PyErr_Clear();
  Py_XDECREF(r);
  Py_DECREF(globals);
}

// Flushes sys.stdout and sys.stderr; false when a flush failed.
bool flush_stdio() {
  bool ok = true;
  for (const char* name : {"stdout", "stderr"}) {
    PyObject* f = PySys_GetObject(name);  // borrowed
    if (!f || f == Py_None) continue;
    PyObject* r = PyObject_CallMethod(f, "flush", nullptr);
    if (!r) {
      PyErr_Clear();
      ok = false;
    }
    Py_XDECREF(r);
  }
  return ok;
}

}  // namespace

bool python_start(const std::vector<std::string>& preload, const std::string& judge_source, std::string* error) {
  // python3's own configuration (the locale from LC_ALL=C.UTF-8, so UTF-8 streams), then its flags.
  PyPreConfig pre;
  PyPreConfig_InitPythonConfig(&pre);
  pre.isolated = 1;
  pre.use_environment = 0;
  PyStatus prestatus = Py_PreInitialize(&pre);
  if (PyStatus_Exception(prestatus)) {
    *error = std::string("the Python interpreter did not start: ") + (prestatus.err_msg ? prestatus.err_msg : "unknown error");
    return false;
  }
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.isolated = 1;                   // -I: no environment variables, no user site, no script folder
  config.use_environment = 0;
  config.user_site_directory = 0;
  config.safe_path = 1;
  config.site_import = 0;                // -S
  config.write_bytecode = 0;             // -B
  config.install_signal_handlers = 1;    // as python3 does (SIGPIPE and SIGXFSZ ignored, SIGINT raises)
  config.parse_argv = 0;
  // What the program sees as its interpreter (sys.executable), so subprocess and multiprocessing start
  // the real python3 rather than r1-box.
  PyStatus status = PyConfig_SetString(&config, &config.program_name, L"/usr/bin/python3");
  if (!PyStatus_Exception(status)) status = PyConfig_SetString(&config, &config.executable, L"/usr/bin/python3");
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    *error = std::string("the Python interpreter did not start: ") + (status.err_msg ? status.err_msg : "unknown error");
    return false;
  }
  for (const std::string& name : preload) {
    PyObject* m = PyImport_ImportModule(name.c_str());
    if (!m) PyErr_Clear();
    Py_XDECREF(m);
  }
  g_judge = Py_CompileString(judge_source.c_str(), "/r1/judge.py", Py_file_input);
  if (!g_judge) {
    PyErr_Print();
    *error = "the function-test judge does not compile";
    return false;
  }
  // Everything loaded so far lives as long as the zygote: move it out of the collector's sight, so a
  // run's garbage collections do not touch (and copy) the zygote's pages.
  run_private("import gc\ngc.collect()\ngc.freeze()\n");
  g_address_space_mb = vm_size_mb();
  g_started = true;
  return true;
}

bool python_started() { return g_started; }
int64_t python_address_space_mb() { return g_address_space_mb; }

namespace {

void set_argv(PythonEntry entry, const std::vector<std::string>& argv) {
  PyObject* list = PyList_New(0);
  std::vector<std::string> args = argv;
  if (entry == PythonEntry::kJudge) args.insert(args.begin(), "/r1/judge.py");
  for (const std::string& a : args) {
    PyObject* s = PyUnicode_DecodeFSDefault(a.c_str());
    if (s) PyList_Append(list, s);
    Py_XDECREF(s);
  }
  PySys_SetObject("argv", list);
  Py_DECREF(list);
}

// compile() of the file's bytes, so a coding declaration is honoured as python3 honours it. A file
// that cannot be opened ends the run as python3 does (status 2).
PyObject* compile_file(const std::string& file, PyObject* path) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    PySys_WriteStderr("python3: can't open file '%s'\n", file.c_str());
    _exit(2);
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string source = text.str();
  PyObject* builtins = PyEval_GetBuiltins();  // borrowed
  PyObject* compile = builtins ? PyDict_GetItemString(builtins, "compile") : nullptr;
  PyObject* bytes = PyBytes_FromStringAndSize(source.data(), static_cast<Py_ssize_t>(source.size()));
  PyObject* code = nullptr;
  if (compile && bytes && path) code = PyObject_CallFunction(compile, "OOs", bytes, path, "exec");
  Py_XDECREF(bytes);
  return code;
}

// __main__'s code (a new reference, nullptr on failure): the compiled judge or the script; sets __file__.
PyObject* load_main_code(PythonEntry entry, const std::string& file, PyObject* globals) {
  PyObject* path = PyUnicode_DecodeFSDefault(file.c_str());
  if (path) PyDict_SetItemString(globals, "__file__", path);
  PyObject* code = nullptr;
  if (entry == PythonEntry::kJudge) {
    code = g_judge;
    Py_XINCREF(code);
  } else {
    code = compile_file(file, path);
  }
  Py_XDECREF(path);
  return code;
}

// Runs `code` (stealing it) in __main__; the exit status python3 would give.
int evaluate(PyObject* code, PyObject* globals) {
  PyObject* result = PyEval_EvalCode(code, globals, globals);
  Py_DECREF(code);
  if (!result) return exit_status_of_exception();
  Py_DECREF(result);
  return 0;
}

// What python3 does on the way out that a program can see: wait for its threads, run its atexit
// functions, flush (a failed flush is status 120). Tearing the interpreter down (Py_FinalizeEx,
// ~6 ms) is skipped: Python does not promise __del__ for objects alive at exit. The final status.
int exit_like_python3(PyObject* globals, int status) {
  PyObject* r = PyRun_String(
      "import sys as _s\n"
      "if 'threading' in _s.modules: _s.modules['threading']._shutdown()\n"
      "import atexit as _a\n_a._run_exitfuncs()\n",
      Py_file_input, globals, globals);
  if (!r) {
    int s = exit_status_of_exception();
    if (status == 0) status = s;
  }
  Py_XDECREF(r);
  if (!flush_stdio() && status == 0) status = 120;
  return status;
}

}  // namespace

void python_run(PythonEntry entry, const std::vector<std::string>& argv) {
  PyOS_AfterFork_Child();
  set_argv(entry, argv);
  // The zygote seeded `random` once; every run draws its own seed, as a fresh interpreter would.
  run_private("import sys\nif 'random' in sys.modules: sys.modules['random'].seed()\n");

  PyObject* main_module = PyImport_AddModule("__main__");  // borrowed
  PyObject* globals = main_module ? PyModule_GetDict(main_module) : nullptr;
  const std::string file = entry == PythonEntry::kJudge ? "/r1/judge.py" : (argv.empty() ? "" : argv[0]);
  PyObject* code = globals ? load_main_code(entry, file, globals) : nullptr;
  int status = 1;
  if (code) {
    status = evaluate(code, globals);
  } else if (PyErr_Occurred()) {
    status = exit_status_of_exception();
  }
  if (entry == PythonEntry::kScript) {
    status = exit_like_python3(globals, status);
  } else {
    flush_stdio();
  }
  _exit(status & 0xff);
}

}  // namespace r1::sandbox::box
